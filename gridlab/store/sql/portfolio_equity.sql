-- The per-symbol equity points of one portfolio run ($symbol NULL = every symbol).
SELECT symbol, ts, price, equity, position, realized, unrealized, fees, funding, grid_profit,
       cash
FROM portfolio_equity
WHERE run_id = $run_id AND ($symbol IS NULL OR symbol = $symbol)
ORDER BY symbol, ts;
