-- Fold the synthetic run's write-ahead log into the store file while DuckDB's memory is still
-- capped (at close, with the default limit, checkpointing a month of trades took ~150 MB more).
CHECKPOINT;
