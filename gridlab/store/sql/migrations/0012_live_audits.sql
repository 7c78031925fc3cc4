-- Live audits (research store): a runner's fills against the backtest of its recorded tape.
CREATE SEQUENCE live_audits_seq START 1;

CREATE TABLE live_audits (
    audit_id    BIGINT  PRIMARY KEY DEFAULT nextval('live_audits_seq'),
    runner      VARCHAR NOT NULL,
    symbol      VARCHAR NOT NULL,
    start_ms    BIGINT  NOT NULL,
    end_ms      BIGINT  NOT NULL,
    fill_model  VARCHAR NOT NULL,
    latency_ms  BIGINT  NOT NULL,
    params_hash VARCHAR NOT NULL,   -- sha256 prefix of the strategy parameters replayed
    n_trades    BIGINT  NOT NULL,   -- tape trades replayed
    n_gaps      INTEGER NOT NULL,
    matched     INTEGER NOT NULL,
    missed      INTEGER NOT NULL,
    extra       INTEGER NOT NULL,
    gap         INTEGER NOT NULL,
    match_rate  DOUBLE  NOT NULL,
    pnl         JSON    NOT NULL,   -- live_pnl, sim_pnl and the causes of the difference
    created_at  BIGINT  NOT NULL
);

CREATE TABLE live_audit_fills (
    audit_id   BIGINT  NOT NULL,
    n          INTEGER NOT NULL,
    status     VARCHAR NOT NULL,    -- matched | missed | extra | gap
    side       TINYINT NOT NULL,
    live_ts    BIGINT,
    sim_ts     BIGINT,
    live_price DOUBLE,
    sim_price  DOUBLE,
    live_qty   DOUBLE,
    sim_qty    DOUBLE,
    live_fee   DOUBLE,
    sim_fee    DOUBLE,
    dt_ms      BIGINT,
    PRIMARY KEY (audit_id, n)
);
