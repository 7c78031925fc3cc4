-- Write (or rewrite) one live order row by orderLinkId.
INSERT OR REPLACE INTO live_orders
    (order_link_id, order_id, symbol, kind, gen, slot, leg, cycle, attempt, side, price, qty,
     status, filled_qty, reason, created_at, updated_at)
VALUES ($order_link_id, $order_id, $symbol, $kind, $gen, $slot, $leg, $cycle, $attempt, $side,
        $price, $qty, $status, $filled_qty, $reason, $created_at, $updated_at);
