-- The moves of the live orders of one symbol (or all: $symbol NULL), by order and version.
SELECT order_link_id, version, symbol, gen, slot, leg, cycle, attempt, price, qty, from_price,
       from_qty, status, created_at, updated_at
FROM live_links
WHERE $symbol IS NULL OR symbol = $symbol
ORDER BY order_link_id, version;
