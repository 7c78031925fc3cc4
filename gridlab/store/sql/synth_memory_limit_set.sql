-- DuckDB's buffer pool limit (e.g. '128MB'): a synthetic run caps it while it writes, so the
-- pages it flushes are evicted instead of cached (the default cache is 80 % of the RAM).
SET memory_limit = $limit;
