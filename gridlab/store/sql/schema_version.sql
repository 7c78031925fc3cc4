-- Bookkeeping of applied migrations (created before the first migration runs).
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR NOT NULL,
    applied_at BIGINT  NOT NULL  -- epoch ms
);
