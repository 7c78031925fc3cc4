-- 1 when the migration bookkeeping table exists, else NULL.
SELECT CASE WHEN count(*) = 0 THEN NULL ELSE 1 END
FROM duckdb_tables()
WHERE table_name = 'schema_version' AND schema_name = 'main'
  AND database_name = current_database();
