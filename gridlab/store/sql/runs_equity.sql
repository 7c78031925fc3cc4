-- The equity curve of one run.
SELECT ts, price, equity, position, realized, unrealized, fees, funding, grid_profit, cash
FROM backtest_equity WHERE run_id = $run_id ORDER BY ts;
