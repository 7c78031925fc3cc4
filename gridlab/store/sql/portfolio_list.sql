-- Most recent portfolio runs, newest first; optional symbol filter ($symbol NULL = all):
-- symbols is 'AAA/linear,BBB/spot', so ',SYMBOL/' occurs in ',' || symbols exactly when the
-- portfolio trades SYMBOL.
SELECT run_id, created_at, symbols, source, start_ms, end_ms, fill_model, latency_ms, capital,
       total_return, max_drawdown, sharpe, n_round_trips, fees, funding, final_equity, stop
FROM portfolio_runs
WHERE $symbol IS NULL OR contains(',' || symbols, ',' || $symbol || '/')
ORDER BY created_at DESC, run_id
LIMIT $limit;
