-- Insert one backtest run from the registered one-row frame _gl_bt.
INSERT INTO backtest_runs BY NAME SELECT * FROM _gl_bt;
