SELECT ts, rate FROM funding
WHERE symbol = $symbol AND ts >= $start AND ts < $end
ORDER BY ts;
