-- The account equity curve of one portfolio run (one row per account check).
SELECT ts, equity, exposure, worst
FROM portfolio_account_equity WHERE run_id = $run_id ORDER BY seq;
