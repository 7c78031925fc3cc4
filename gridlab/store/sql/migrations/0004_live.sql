-- Live runner tables (gridlab.store.live) and strategy promotions.
-- A live store is one DuckDB file per runner (data/live/<name>.duckdb) with one writer: the
-- runner. Times are epoch milliseconds (UTC); side is 1 buy / -1 sell. Keys make replays
-- idempotent: fills by execId, orders by orderLinkId.

CREATE TABLE live_orders (
    order_link_id VARCHAR PRIMARY KEY,        -- deterministic: (generation, slot, leg, cycle, attempt)
    order_id      VARCHAR NOT NULL DEFAULT '', -- exchange id once acknowledged
    symbol        VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,           -- grid | seed | flatten
    gen           INTEGER NOT NULL,           -- grid generation (one per build / recenter)
    slot          INTEGER NOT NULL,           -- -1 for seed / flatten
    leg           VARCHAR NOT NULL,           -- o open | c close | s seed | f flatten
    cycle         INTEGER NOT NULL,           -- round trips of the slot in this generation
    attempt       INTEGER NOT NULL,           -- re-placements of the same order after a refusal
    side          TINYINT NOT NULL,
    price         DOUBLE  NOT NULL,           -- 0 for market orders
    qty           DOUBLE  NOT NULL,
    status        VARCHAR NOT NULL,           -- Intent | New | PartiallyFilled | Filled | Cancelled | Rejected
    filled_qty    DOUBLE  NOT NULL DEFAULT 0,
    reason        VARCHAR NOT NULL DEFAULT '', -- reject / cancel reason
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE live_fills (
    exec_id       VARCHAR PRIMARY KEY,        -- Bybit execId: a fill is stored once
    exec_time     BIGINT  NOT NULL,
    symbol        VARCHAR NOT NULL,
    order_link_id VARCHAR NOT NULL,
    order_id      VARCHAR NOT NULL,
    exec_type     VARCHAR NOT NULL,           -- Trade | Funding
    side          TINYINT NOT NULL,
    price         DOUBLE  NOT NULL,
    qty           DOUBLE  NOT NULL,
    fee           DOUBLE  NOT NULL,
    fee_rate      DOUBLE  NOT NULL,
    is_maker      BOOLEAN NOT NULL,
    kind          VARCHAR NOT NULL,           -- grid | late | seed | flatten | funding | foreign
    gen           INTEGER NOT NULL,
    slot          INTEGER NOT NULL,
    source        VARCHAR NOT NULL,           -- ws | rest | backfill
    stored_at     BIGINT  NOT NULL,           -- wall clock when it was committed
    applied       BOOLEAN NOT NULL DEFAULT false, -- booked into the ledger and the strategy
    apply_seq     BIGINT,                     -- order in which fills were applied
    position      DOUBLE,                     -- strategy position after the fill
    grid_profit   DOUBLE  NOT NULL DEFAULT 0  -- round-trip profit this fill completed
);

CREATE TABLE live_positions (
    ts               BIGINT  NOT NULL PRIMARY KEY,
    symbol           VARCHAR NOT NULL,
    size             DOUBLE  NOT NULL,        -- exchange position, signed
    avg_price        DOUBLE  NOT NULL,
    mark_price       DOUBLE  NOT NULL,
    unrealised_pnl   DOUBLE  NOT NULL,
    cum_realised_pnl DOUBLE  NOT NULL,
    leverage         DOUBLE  NOT NULL,
    liq_price        DOUBLE  NOT NULL,
    ledger_position  DOUBLE  NOT NULL         -- the runner's own position from its fills
);

CREATE TABLE live_equity (
    ts               BIGINT  NOT NULL PRIMARY KEY,
    price            DOUBLE  NOT NULL,
    equity           DOUBLE  NOT NULL,        -- strategy equity: capital + PnL of its own fills
    position         DOUBLE  NOT NULL,
    realized         DOUBLE  NOT NULL,
    unrealized       DOUBLE  NOT NULL,
    fees             DOUBLE  NOT NULL,
    funding          DOUBLE  NOT NULL,
    grid_profit      DOUBLE  NOT NULL,
    exposure         DOUBLE  NOT NULL,        -- |position| * price / equity
    wallet_equity    DOUBLE,                  -- account totalEquity (NULL if not fetched)
    wallet_available DOUBLE
);

CREATE TABLE live_grid (
    gen             INTEGER NOT NULL PRIMARY KEY,
    ts              BIGINT  NOT NULL,
    price           DOUBLE  NOT NULL,         -- build price = centre
    lowest          DOUBLE,                   -- NULL when the build has no valid level
    highest         DOUBLE,
    spacing         DOUBLE  NOT NULL,
    n_buy           INTEGER NOT NULL,         -- enabled slots by home side
    n_sell          INTEGER NOT NULL,
    reason          VARCHAR NOT NULL,         -- INITIAL | DEVIATION | ... | MANUAL
    profile         VARCHAR NOT NULL,
    profile_version INTEGER,
    seed_qty        DOUBLE  NOT NULL
);

CREATE SEQUENCE live_events_seq START 1;

CREATE TABLE live_events (
    id       BIGINT  NOT NULL PRIMARY KEY DEFAULT nextval('live_events_seq'),
    ts       BIGINT  NOT NULL,
    kind     VARCHAR NOT NULL,                -- start | stop | recenter | kill_switch | error | ...
    severity VARCHAR NOT NULL,                -- info | warning | error | critical
    message  VARCHAR NOT NULL,
    details  JSON
);

-- Runner state that survives restarts: strategy + risk snapshots, ledger, generation, ...
CREATE TABLE live_state (
    key        VARCHAR NOT NULL PRIMARY KEY,
    value      JSON    NOT NULL,
    updated_at BIGINT  NOT NULL
);

-- Strategy promotions (research store): which profile version goes live, when, why, and the
-- backtest it came from. The runner takes the latest on start.
CREATE TABLE promotions (
    id          INTEGER NOT NULL PRIMARY KEY,
    profile     VARCHAR NOT NULL,
    version     INTEGER NOT NULL,             -- profiles.version
    promoted_at BIGINT  NOT NULL,
    note        VARCHAR NOT NULL DEFAULT '',
    run_id      VARCHAR,                      -- backtest_runs.run_id, if promoted from a run
    params      JSON    NOT NULL              -- the profile definition at promotion time
);
