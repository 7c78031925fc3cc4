-- Status change of one live order (order_id '' keeps the known id).
UPDATE live_orders
SET order_id   = CASE WHEN $order_id = '' THEN order_id ELSE $order_id END,
    status     = $status,
    filled_qty = $filled_qty,
    reason     = $reason,
    updated_at = $updated_at
WHERE order_link_id = $order_link_id;
