-- Bulk insert of a run's grid (re)builds from the registered frame _gl_bt.
INSERT INTO backtest_recenters BY NAME SELECT * FROM _gl_bt;
