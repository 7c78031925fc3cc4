-- Write (or rewrite) one move of a live order (live_links).
INSERT OR REPLACE INTO live_links
    (order_link_id, version, symbol, gen, slot, leg, cycle, attempt, price, qty, from_price,
     from_qty, status, created_at, updated_at)
VALUES ($order_link_id, $version, $symbol, $gen, $slot, $leg, $cycle, $attempt, $price, $qty,
        $from_price, $from_qty, $status, $created_at, $updated_at);
