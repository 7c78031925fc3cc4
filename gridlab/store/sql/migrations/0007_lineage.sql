-- Instruments: leverage and funding interval from Bybit's instruments-info, and where the row
-- came from (REST, a file, the shipped snapshot). Promotions: where the parameters came from.
-- Walk-forward runs and Optuna studies, stored with their parameters so any fold's or trial's
-- set can be promoted (gridlab.store.research).

ALTER TABLE instruments ADD COLUMN max_leverage DOUBLE DEFAULT 0;
ALTER TABLE instruments ADD COLUMN funding_interval_min INTEGER DEFAULT 0;
ALTER TABLE instruments ADD COLUMN origin VARCHAR DEFAULT '';  -- rest | file:NAME | snapshot

ALTER TABLE promotions ADD COLUMN source_kind VARCHAR DEFAULT '';  -- run | sweep | walkforward
                                                                   -- | trial | profile | rollback
ALTER TABLE promotions ADD COLUMN source_id VARCHAR DEFAULT '';
ALTER TABLE promotions ADD COLUMN lineage JSON DEFAULT '{}';  -- data range, fill model,
                                                              -- metrics, code version

CREATE TABLE walkforwards (
    wf_id           VARCHAR PRIMARY KEY,
    created_at      BIGINT  NOT NULL,
    gridlab_version VARCHAR NOT NULL,
    git_commit      VARCHAR NOT NULL,
    kernel_hash     VARCHAR NOT NULL,
    symbol          VARCHAR NOT NULL,
    category        VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    start_ms        BIGINT  NOT NULL,
    end_ms          BIGINT  NOT NULL,
    fill_model      VARCHAR NOT NULL,
    objective       VARCHAR NOT NULL,   -- metric:max|min
    base_params     JSON    NOT NULL,   -- effective config every set starts from
    param_grid      JSON    NOT NULL,   -- {path: [values]}
    folds           JSON    NOT NULL    -- per-fold rows: windows, chosen set, IS / OOS values
);

CREATE TABLE studies (
    study_id        VARCHAR PRIMARY KEY,
    created_at      BIGINT  NOT NULL,
    gridlab_version VARCHAR NOT NULL,
    git_commit      VARCHAR NOT NULL,
    kernel_hash     VARCHAR NOT NULL,
    symbol          VARCHAR NOT NULL,
    category        VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    start_ms        BIGINT  NOT NULL,
    end_ms          BIGINT  NOT NULL,
    fill_model      VARCHAR NOT NULL,
    objectives      VARCHAR NOT NULL,   -- metric:max|min[,metric:max|min]
    base_params     JSON    NOT NULL,
    space           JSON    NOT NULL    -- {path: [low, high, log]}
);

CREATE TABLE study_trials (
    study_id VARCHAR NOT NULL,
    trial    BIGINT  NOT NULL,          -- Optuna's trial number
    params   JSON    NOT NULL,          -- this trial's values of the searched paths
    metrics  JSON    NOT NULL,
    feasible BOOLEAN NOT NULL,
    PRIMARY KEY (study_id, trial)
);
