-- The fills of one portfolio run ($symbol NULL = every symbol), by symbol then order.
SELECT symbol, seq, ts, side, price, qty, fee, kind, slot, position, grid_profit
FROM portfolio_fills
WHERE run_id = $run_id AND ($symbol IS NULL OR symbol = $symbol)
ORDER BY symbol, seq;
