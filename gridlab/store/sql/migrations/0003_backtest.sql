-- Backtest runs, their fills and equity curves, and parameter sweeps (gridlab.store.runs).
-- Times are epoch milliseconds (UTC). params / metrics / param_grid are JSON text holding the
-- exact effective config of a run, so any stored run can be replayed: `gridlab runs show ID`.

CREATE TABLE backtest_runs (
    run_id          VARCHAR PRIMARY KEY,
    created_at      BIGINT  NOT NULL,
    gridlab_version VARCHAR NOT NULL,
    git_commit      VARCHAR NOT NULL,   -- '' outside a git checkout; '+dirty' if changed
    kernel_hash     VARCHAR NOT NULL,   -- sha256 prefix of the *_nb.py kernel sources
    symbol          VARCHAR NOT NULL,
    category        VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,   -- trades | kline interval ('1', '5', ...)
    start_ms        BIGINT  NOT NULL,   -- first replayed event
    end_ms          BIGINT  NOT NULL,   -- one past the last replayed event
    n_events        BIGINT  NOT NULL,
    fill_model      VARCHAR NOT NULL,
    latency_ms      BIGINT  NOT NULL,
    params          JSON    NOT NULL,   -- effective config (profile applied, overrides applied)
    metrics         JSON    NOT NULL,
    warnings        VARCHAR NOT NULL DEFAULT '',
    total_return    DOUBLE,
    max_drawdown    DOUBLE,
    sharpe          DOUBLE,
    n_round_trips   BIGINT,
    fees            DOUBLE,
    funding         DOUBLE,
    final_equity    DOUBLE,
    elapsed_s       DOUBLE
);

CREATE TABLE backtest_fills (
    run_id      VARCHAR NOT NULL,
    seq         BIGINT  NOT NULL,       -- order of the fill within the run
    ts          BIGINT  NOT NULL,
    side        TINYINT NOT NULL,       -- 1 buy, -1 sell
    price       DOUBLE  NOT NULL,
    qty         DOUBLE  NOT NULL,
    fee         DOUBLE  NOT NULL,
    kind        VARCHAR NOT NULL,       -- limit | late | seed | flatten
    slot        INTEGER NOT NULL,       -- -1 for market orders
    position    DOUBLE  NOT NULL,       -- after the fill
    grid_profit DOUBLE  NOT NULL,       -- round-trip profit booked by this fill
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE backtest_equity (
    run_id      VARCHAR NOT NULL,
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
    PRIMARY KEY (run_id, ts)
);

CREATE TABLE sweeps (
    sweep_id        VARCHAR PRIMARY KEY,
    created_at      BIGINT  NOT NULL,
    gridlab_version VARCHAR NOT NULL,
    git_commit      VARCHAR NOT NULL,
    kernel_hash     VARCHAR NOT NULL,
    symbol          VARCHAR NOT NULL,
    category        VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    start_ms        BIGINT  NOT NULL,
    end_ms          BIGINT  NOT NULL,
    n_events        BIGINT  NOT NULL,
    fill_model      VARCHAR NOT NULL,
    base_params     JSON    NOT NULL,   -- effective config every set starts from
    param_grid      JSON    NOT NULL,   -- {path: [values]}
    n_sets          BIGINT  NOT NULL,
    elapsed_s       DOUBLE
);

CREATE TABLE sweep_results (
    sweep_id               VARCHAR NOT NULL,
    set_id                 BIGINT  NOT NULL,
    params                 JSON    NOT NULL,   -- this set's values of the swept paths
    total_return           DOUBLE,
    annualized_return      DOUBLE,
    avg_daily_return       DOUBLE,
    sharpe                 DOUBLE,
    sortino                DOUBLE,
    calmar                 DOUBLE,
    max_drawdown           DOUBLE,
    max_dd_duration_h      DOUBLE,
    final_equity           DOUBLE,
    pnl                    DOUBLE,
    grid_profit            DOUBLE,
    inventory_pnl          DOUBLE,
    realized               DOUBLE,
    unrealized             DOUBLE,
    fees                   DOUBLE,
    funding                DOUBLE,
    turnover               DOUBLE,
    n_round_trips          BIGINT,
    n_fills                BIGINT,
    n_limit_fills          BIGINT,
    n_late_fills           BIGINT,
    n_rejected_post_only   BIGINT,
    n_blocked              BIGINT,
    n_kill_switch          BIGINT,
    stop_code              BIGINT,
    n_recenters            BIGINT,
    rc_none                BIGINT,
    rc_initial             BIGINT,
    rc_trail_up            BIGINT,
    rc_trail_down          BIGINT,
    rc_deviation           BIGINT,
    rc_pump_dump           BIGINT,
    rc_dominance           BIGINT,
    rc_time                BIGINT,
    rc_manual              BIGINT,
    rc_kill                BIGINT,
    time_at_max_exposure   DOUBLE,
    position               DOUBLE,
    n_empty_builds         BIGINT,
    days                   DOUBLE,
    n_events               BIGINT,
    PRIMARY KEY (sweep_id, set_id)
);
