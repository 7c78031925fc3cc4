SELECT ts, price, size, side, trade_id FROM live_tape
WHERE symbol = $symbol AND ts >= $start_ms AND ts < $end_ms
ORDER BY ts, trade_id;
