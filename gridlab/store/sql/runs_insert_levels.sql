-- Bulk insert of a run's grid levels from the registered frame _gl_bt.
INSERT INTO backtest_levels BY NAME SELECT * FROM _gl_bt;
