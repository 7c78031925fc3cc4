-- One portfolio run by id (or unique id prefix).
SELECT run_id, created_at, gridlab_version, git_commit, kernel_hash, symbols, source, start_ms,
       end_ms, n_events, fill_model, latency_ms, capital, params, metrics, warnings, stop,
       elapsed_s
FROM portfolio_runs
WHERE starts_with(run_id, $run_id)
ORDER BY run_id
LIMIT 2;
