-- Write (or rewrite) one move of an amended order (live_links).
INSERT OR REPLACE INTO live_links
    (order_link_id, gen, symbol, slot, leg, cycle, attempt, old_gen, old_slot, old_leg,
     old_cycle, old_attempt, old_price, new_price, new_qty, created_at)
VALUES ($order_link_id, $gen, $symbol, $slot, $leg, $cycle, $attempt, $old_gen, $old_slot,
        $old_leg, $old_cycle, $old_attempt, $old_price, $new_price, $new_qty, $created_at);
