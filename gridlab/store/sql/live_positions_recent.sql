-- The latest position snapshots, newest first; of one symbol, or all ($symbol NULL).
SELECT ts, symbol, size, avg_price, mark_price, unrealised_pnl, cum_realised_pnl, leverage,
       liq_price, ledger_position
FROM live_positions
WHERE $symbol IS NULL OR symbol = $symbol
ORDER BY ts DESC, symbol
LIMIT $limit;
