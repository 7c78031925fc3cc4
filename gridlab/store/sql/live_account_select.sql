-- Account snapshots since $since (epoch ms), oldest first.
SELECT ts, capital, equity, realized, unrealized, fees, funding, grid_profit, notional,
       worst_notional, exposure, daily_max, drawdown, stopped, n_grids, n_trading,
       wallet_equity, wallet_available
FROM live_account
WHERE ts >= $since
ORDER BY ts
LIMIT $limit;
