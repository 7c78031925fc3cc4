-- Portfolio backtest runs (gridlab.store.portfolio_runs): the account's header and equity
-- curve, one row per symbol (its effective config and metrics), the symbols' fills and equity
-- points. Times are epoch milliseconds (UTC); params / metrics are JSON text holding the
-- exact effective configs, so a stored portfolio run can be replayed.

CREATE TABLE portfolio_runs (
    run_id          VARCHAR PRIMARY KEY,
    created_at      BIGINT  NOT NULL,
    gridlab_version VARCHAR NOT NULL,
    git_commit      VARCHAR NOT NULL,   -- '' outside a git checkout; '+dirty' if changed
    kernel_hash     VARCHAR NOT NULL,   -- sha256 prefix of the *_nb.py kernel sources
    symbols         VARCHAR NOT NULL,   -- 'BTCUSDT/linear,ETHUSDT/linear' in config order
    source          VARCHAR NOT NULL,   -- trades | kline interval (of the first symbol)
    start_ms        BIGINT  NOT NULL,   -- first replayed event of any symbol
    end_ms          BIGINT  NOT NULL,   -- one past the last replayed event
    n_events        BIGINT  NOT NULL,   -- all symbols
    fill_model      VARCHAR NOT NULL,
    latency_ms      BIGINT  NOT NULL,
    capital         DOUBLE  NOT NULL,
    params          JSON    NOT NULL,   -- portfolio limits + each symbol's effective config
    metrics         JSON    NOT NULL,   -- the account's metrics
    warnings        VARCHAR NOT NULL DEFAULT '',
    stop            VARCHAR NOT NULL,   -- NONE | KILL_SWITCH (account kill switch)
    total_return    DOUBLE,
    max_drawdown    DOUBLE,
    sharpe          DOUBLE,
    n_round_trips   BIGINT,
    fees            DOUBLE,
    funding         DOUBLE,
    final_equity    DOUBLE,
    elapsed_s       DOUBLE
);

CREATE TABLE portfolio_symbols (
    run_id        VARCHAR NOT NULL,
    seq           BIGINT  NOT NULL,     -- position in portfolio.symbols
    symbol        VARCHAR NOT NULL,
    category      VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    start_ms      BIGINT  NOT NULL,
    end_ms        BIGINT  NOT NULL,
    n_events      BIGINT  NOT NULL,
    capital       DOUBLE  NOT NULL,     -- allocation x portfolio capital
    metrics       JSON    NOT NULL,
    total_return  DOUBLE,
    max_drawdown  DOUBLE,
    n_round_trips BIGINT,
    fees          DOUBLE,
    final_equity  DOUBLE,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE portfolio_fills (
    run_id      VARCHAR NOT NULL,
    symbol      VARCHAR NOT NULL,
    seq         BIGINT  NOT NULL,       -- order of the fill within the symbol's grid
    ts          BIGINT  NOT NULL,
    side        TINYINT NOT NULL,       -- 1 buy, -1 sell
    price       DOUBLE  NOT NULL,
    qty         DOUBLE  NOT NULL,
    fee         DOUBLE  NOT NULL,
    kind        VARCHAR NOT NULL,       -- limit | late | seed | flatten
    slot        INTEGER NOT NULL,       -- -1 for market orders
    position    DOUBLE  NOT NULL,       -- after the fill
    grid_profit DOUBLE  NOT NULL,
    PRIMARY KEY (run_id, symbol, seq)
);

CREATE TABLE portfolio_equity (
    run_id      VARCHAR NOT NULL,
    symbol      VARCHAR NOT NULL,
    ts          BIGINT  NOT NULL,
    price       DOUBLE  NOT NULL,
    equity      DOUBLE  NOT NULL,
    position    DOUBLE  NOT NULL,
    realized    DOUBLE  NOT NULL,
    unrealized  DOUBLE  NOT NULL,
    fees        DOUBLE  NOT NULL,
    funding     DOUBLE  NOT NULL,
    grid_profit DOUBLE  NOT NULL,
    cash        DOUBLE  NOT NULL,
    PRIMARY KEY (run_id, symbol, ts)
);

CREATE TABLE portfolio_account_equity (
    run_id   VARCHAR NOT NULL,
    seq      BIGINT  NOT NULL,          -- order of the account check
    ts       BIGINT  NOT NULL,          -- account check time
    equity   DOUBLE  NOT NULL,          -- total equity
    exposure DOUBLE  NOT NULL,          -- sum |position| x price
    worst    DOUBLE  NOT NULL,          -- sum of worst-case notionals
    PRIMARY KEY (run_id, seq)
);
