-- What a market span [$start, $end) of one symbol already holds: trades, klines, funding.
SELECT (SELECT count(*) FROM trades
        WHERE symbol = $symbol AND category = $category AND ts >= $start AND ts < $end),
       (SELECT count(*) FROM klines
        WHERE symbol = $symbol AND category = $category AND open_time >= $start
          AND open_time < $end),
       (SELECT count(*) FROM funding
        WHERE symbol = $symbol AND $category <> 'spot' AND ts >= $start AND ts < $end);
