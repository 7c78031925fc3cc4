-- The latest position snapshots, newest first.
SELECT ts, symbol, size, avg_price, mark_price, unrealised_pnl, cum_realised_pnl, leverage,
       liq_price, ledger_position
FROM live_positions
ORDER BY ts DESC
LIMIT $limit;
