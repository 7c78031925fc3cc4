-- Live orders, newest first; $active_only keeps Intent / New / PartiallyFilled; of one symbol,
-- or all ($symbol NULL).
SELECT order_link_id, order_id, symbol, kind, gen, slot, leg, cycle, attempt, side, price, qty,
       status, filled_qty, reason, created_at, updated_at
FROM live_orders
WHERE (NOT $active_only OR status IN ('Intent', 'New', 'PartiallyFilled'))
  AND ($symbol IS NULL OR symbol = $symbol)
ORDER BY created_at DESC, order_link_id DESC
LIMIT $limit;
