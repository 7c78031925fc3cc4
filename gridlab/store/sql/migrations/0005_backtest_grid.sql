-- The grid of a stored backtest run (gridlab.store.runs): every (re)build with its reason, and
-- the levels of the enabled slots at each build. Times are epoch milliseconds (UTC).
-- lowest / highest are NaN for a build that left no enabled slot.

CREATE TABLE backtest_recenters (
    run_id   VARCHAR NOT NULL,
    seq      BIGINT  NOT NULL,       -- order of the build within the run (0 = the initial one)
    ts       BIGINT  NOT NULL,       -- event time of the build
    reason   VARCHAR NOT NULL,       -- initial | trail_up | trail_down | deviation | pump_dump
                                     -- | dominance | time
    price    DOUBLE  NOT NULL,       -- event price the grid was built at
    centre   DOUBLE  NOT NULL,       -- centre level (price rounded to the tick)
    spacing  DOUBLE  NOT NULL,       -- effective spacing (fraction)
    lowest   DOUBLE  NOT NULL,       -- lowest level of the enabled slots
    highest  DOUBLE  NOT NULL,       -- highest level of the enabled slots
    n_slots  INTEGER NOT NULL,       -- enabled slots
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE backtest_levels (
    run_id   VARCHAR NOT NULL,
    seq      BIGINT  NOT NULL,       -- order within the run (by build, then price)
    ts       BIGINT  NOT NULL,       -- time of the build that placed the level
    price    DOUBLE  NOT NULL,
    side     TINYINT NOT NULL,       -- 1 below the centre level, -1 above, 0 the centre level
    PRIMARY KEY (run_id, seq)
);
