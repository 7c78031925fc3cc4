-- The latest fills, newest first; of one symbol, or all ($symbol NULL).
SELECT exec_id, exec_time, symbol, order_link_id, exec_type, side, price, qty, fee, is_maker,
       kind, gen, slot, source, applied, apply_seq, position, grid_profit, stored_at
FROM live_fills
WHERE $symbol IS NULL OR symbol = $symbol
ORDER BY exec_time DESC, apply_seq DESC NULLS FIRST
LIMIT $limit;
