-- Store one execution; returns its exec_id only when it was not stored before.
INSERT INTO live_fills
    (exec_id, exec_time, symbol, order_link_id, order_id, exec_type, side, price, qty, fee,
     fee_rate, is_maker, kind, gen, slot, source, stored_at, applied, apply_seq, position,
     grid_profit)
VALUES ($exec_id, $exec_time, $symbol, $order_link_id, $order_id, $exec_type, $side, $price,
        $qty, $fee, $fee_rate, $is_maker, $kind, $gen, $slot, $source, $stored_at, false, NULL,
        NULL, 0)
ON CONFLICT DO NOTHING
RETURNING exec_id;
