-- Stored fills not yet booked (a crash between storing and applying), oldest first; of one
-- symbol, or all ($symbol NULL).
SELECT exec_id, exec_time, symbol, order_link_id, order_id, exec_type, side, price, qty, fee,
       fee_rate, is_maker, source
FROM live_fills
WHERE NOT applied AND ($symbol IS NULL OR symbol = $symbol)
ORDER BY exec_time, exec_id;
