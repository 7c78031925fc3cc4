-- Most recent sweeps, newest first.
SELECT sweep_id, created_at, symbol, category, source, start_ms, end_ms, fill_model, n_sets,
       elapsed_s, param_grid
FROM sweeps ORDER BY created_at DESC, sweep_id LIMIT $limit;
