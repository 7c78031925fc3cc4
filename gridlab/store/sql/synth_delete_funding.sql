DELETE FROM funding WHERE symbol = $symbol AND ts >= $start AND ts < $end;
