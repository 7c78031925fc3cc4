-- Equity snapshots since $since (epoch ms), oldest first; of one symbol, or all ($symbol NULL).
SELECT ts, symbol, price, equity, position, realized, unrealized, fees, funding, grid_profit,
       exposure, wallet_equity, wallet_available
FROM live_equity
WHERE ts >= $since AND ($symbol IS NULL OR symbol = $symbol)
ORDER BY ts, symbol
LIMIT $limit;
