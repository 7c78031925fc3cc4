-- Bulk insert of a run's equity points from the registered frame _gl_bt.
INSERT INTO backtest_equity BY NAME SELECT * FROM _gl_bt;
