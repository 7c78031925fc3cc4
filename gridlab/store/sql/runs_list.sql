-- Most recent backtest runs, newest first; optional symbol filter ($symbol NULL = all).
SELECT run_id, created_at, symbol, category, source, start_ms, end_ms, fill_model, latency_ms,
       total_return, max_drawdown, sharpe, n_round_trips, fees, funding, final_equity
FROM backtest_runs
WHERE $symbol IS NULL OR symbol = $symbol
ORDER BY created_at DESC, run_id
LIMIT $limit;
