-- The grid levels of one run, by build then price.
SELECT ts, price, side
FROM backtest_levels WHERE run_id = $run_id ORDER BY seq;
