-- Whether a scratch database is attached (a failed run's, to be detached first).
SELECT count(*) FROM duckdb_databases() WHERE database_name = 'synth_stage';
