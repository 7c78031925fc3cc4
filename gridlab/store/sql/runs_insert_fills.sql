-- Bulk insert of a run's fills from the registered frame _gl_bt.
INSERT INTO backtest_fills BY NAME SELECT * FROM _gl_bt;
