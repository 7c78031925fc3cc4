-- The margin model (issue 14): mark-price klines, and the liquidation columns of sweeps.
-- Price klines other than trades (Bybit /v5/market/mark-price-kline; `kind` 'mark' tags the
-- series), OHLC only (Bybit sends no volume for them). Times are epoch ms (UTC).
CREATE TABLE price_klines (
    kind      VARCHAR NOT NULL,   -- mark
    symbol    VARCHAR NOT NULL,
    category  VARCHAR NOT NULL,   -- linear | inverse
    interval  VARCHAR NOT NULL,   -- Bybit spelling: 1 3 5 15 30 60 120 240 360 720 D W
    open_time BIGINT  NOT NULL,
    open      DOUBLE  NOT NULL,
    high      DOUBLE  NOT NULL,
    low       DOUBLE  NOT NULL,
    close     DOUBLE  NOT NULL,
    PRIMARY KEY (kind, symbol, category, interval, open_time)
);

ALTER TABLE sweep_results ADD COLUMN n_liquidations BIGINT;
ALTER TABLE sweep_results ADD COLUMN liquidated BOOLEAN;
ALTER TABLE sweep_results ADD COLUMN liq_ts BIGINT;
ALTER TABLE sweep_results ADD COLUMN liq_loss DOUBLE;
ALTER TABLE sweep_results ADD COLUMN n_margin_refused BIGINT;
