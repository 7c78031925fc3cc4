-- Bulk insert of a sweep's per-set results from the registered frame _gl_bt.
INSERT INTO sweep_results BY NAME SELECT * FROM _gl_bt;
