-- One backtest run by id (or unique id prefix).
SELECT run_id, created_at, gridlab_version, git_commit, kernel_hash, symbol, category, source,
       start_ms, end_ms, n_events, fill_model, latency_ms, params, metrics, warnings, elapsed_s
FROM backtest_runs
WHERE starts_with(run_id, $run_id)
ORDER BY run_id
LIMIT 2;
