-- Trade executions of one symbol in [start_ms, end_ms), in the order they were applied.
SELECT exec_time AS ts, side, price, qty, fee, fee_rate, is_maker, kind, slot, apply_seq
FROM live_fills
WHERE symbol = $symbol AND exec_type = 'Trade' AND exec_time >= $start_ms
  AND exec_time < $end_ms
ORDER BY exec_time, apply_seq NULLS LAST;
