SELECT min(ts), max(ts), count(*) FROM funding WHERE symbol = $symbol;
