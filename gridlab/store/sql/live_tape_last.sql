SELECT max(ts) FROM live_tape WHERE symbol = $symbol;
