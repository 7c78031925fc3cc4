SELECT start_ts, end_ts, reason FROM live_tape_gaps
WHERE symbol = $symbol AND end_ts >= $start_ms AND start_ts < $end_ms
ORDER BY start_ts;
