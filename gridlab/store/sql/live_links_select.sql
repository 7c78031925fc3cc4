-- The moves of amended orders of one symbol (or all, $symbol NULL), oldest first.
SELECT order_link_id, gen, symbol, slot, leg, cycle, attempt, old_gen, old_slot, old_leg,
       old_cycle, old_attempt, old_price, new_price, new_qty, created_at
FROM live_links
WHERE $symbol IS NULL OR symbol = $symbol
ORDER BY order_link_id, gen;
