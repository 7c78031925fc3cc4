SELECT coalesce(sum(-fee), 0.0) FROM live_fills
WHERE symbol = $symbol AND exec_type = 'Funding' AND exec_time >= $start_ms
  AND exec_time < $end_ms;
