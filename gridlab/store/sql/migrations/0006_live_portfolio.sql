-- Several grids (symbols) in one live store (gridlab.store.live): every per-grid row carries its
-- symbol, per-grid keys include it, and account snapshots get their own table.
-- live_orders and live_fills already carry `symbol`. Rows written before this migration get
-- symbol '' here; a single-symbol runner claims them on start (live_claim_*.sql).
-- live_events.symbol NULL = an event of the runner or the account, not of one grid.

CREATE TABLE live_equity_0006 (
    ts               BIGINT  NOT NULL,
    symbol           VARCHAR NOT NULL DEFAULT '',
    price            DOUBLE  NOT NULL,
    equity           DOUBLE  NOT NULL,        -- grid equity: its capital + PnL of its own fills
    position         DOUBLE  NOT NULL,
    realized         DOUBLE  NOT NULL,
    unrealized       DOUBLE  NOT NULL,
    fees             DOUBLE  NOT NULL,
    funding          DOUBLE  NOT NULL,
    grid_profit      DOUBLE  NOT NULL,
    exposure         DOUBLE  NOT NULL,        -- |position| * price / equity
    wallet_equity    DOUBLE,                  -- account totalEquity (NULL if not fetched)
    wallet_available DOUBLE,
    PRIMARY KEY (symbol, ts)
);
INSERT INTO live_equity_0006
SELECT ts, '', price, equity, position, realized, unrealized, fees, funding, grid_profit,
       exposure, wallet_equity, wallet_available
FROM live_equity;
DROP TABLE live_equity;
ALTER TABLE live_equity_0006 RENAME TO live_equity;

CREATE TABLE live_positions_0006 (
    ts               BIGINT  NOT NULL,
    symbol           VARCHAR NOT NULL,
    size             DOUBLE  NOT NULL,        -- exchange position, signed
    avg_price        DOUBLE  NOT NULL,
    mark_price       DOUBLE  NOT NULL,
    unrealised_pnl   DOUBLE  NOT NULL,
    cum_realised_pnl DOUBLE  NOT NULL,
    leverage         DOUBLE  NOT NULL,
    liq_price        DOUBLE  NOT NULL,
    ledger_position  DOUBLE  NOT NULL,        -- the runner's own position from its fills
    PRIMARY KEY (symbol, ts)
);
INSERT INTO live_positions_0006
SELECT ts, symbol, size, avg_price, mark_price, unrealised_pnl, cum_realised_pnl, leverage,
       liq_price, ledger_position
FROM live_positions;
DROP TABLE live_positions;
ALTER TABLE live_positions_0006 RENAME TO live_positions;

CREATE TABLE live_grid_0006 (
    gen             INTEGER NOT NULL,         -- grid generation, per symbol
    symbol          VARCHAR NOT NULL DEFAULT '',
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
    seed_qty        DOUBLE  NOT NULL,
    PRIMARY KEY (symbol, gen)
);
INSERT INTO live_grid_0006
SELECT gen, '', ts, price, lowest, highest, spacing, n_buy, n_sell, reason, profile,
       profile_version, seed_qty
FROM live_grid;
DROP TABLE live_grid;
ALTER TABLE live_grid_0006 RENAME TO live_grid;

ALTER TABLE live_events ADD COLUMN symbol VARCHAR;  -- NULL: runner / account level

-- Account snapshots: every grid together, as the account-level risk checks see it.
CREATE TABLE live_account (
    ts               BIGINT  NOT NULL PRIMARY KEY,
    capital          DOUBLE  NOT NULL,        -- account capital (portfolio.capital)
    equity           DOUBLE  NOT NULL,        -- total equity: capital + PnL of every grid
    realized         DOUBLE  NOT NULL,        -- sums over the grids
    unrealized       DOUBLE  NOT NULL,
    fees             DOUBLE  NOT NULL,
    funding          DOUBLE  NOT NULL,
    grid_profit      DOUBLE  NOT NULL,
    notional         DOUBLE  NOT NULL,        -- sum |position| * price
    worst_notional   DOUBLE  NOT NULL,        -- sum of worst cases (every resting order of a side filled)
    exposure         DOUBLE  NOT NULL,        -- notional / equity
    daily_max        DOUBLE,                  -- kill switch: UTC-day max of the total equity
    drawdown         DOUBLE,                  -- (daily_max - equity) / daily_max
    stopped          INTEGER NOT NULL,        -- account stop code (0 none, 1 kill switch)
    n_grids          INTEGER NOT NULL,
    n_trading        INTEGER NOT NULL,
    wallet_equity    DOUBLE,                  -- account totalEquity (NULL if not fetched)
    wallet_available DOUBLE
);
