-- The grid (re)builds of one run in order.
SELECT ts, reason, price, centre, spacing, lowest, highest, n_slots
FROM backtest_recenters WHERE run_id = $run_id ORDER BY seq;
