-- Equity snapshots since $since (epoch ms), oldest first.
SELECT ts, price, equity, position, realized, unrealized, fees, funding, grid_profit, exposure,
       wallet_equity, wallet_available
FROM live_equity
WHERE ts >= $since
ORDER BY ts
LIMIT $limit;
