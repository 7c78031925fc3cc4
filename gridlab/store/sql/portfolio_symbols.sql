-- The symbols of one portfolio run in config order, with their metrics.
SELECT seq, symbol, category, source, start_ms, end_ms, n_events, capital, metrics,
       total_return, max_drawdown, n_round_trips, fees, final_equity
FROM portfolio_symbols WHERE run_id = $run_id ORDER BY seq;
