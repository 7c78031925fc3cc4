SELECT count(*) FROM live_tape;
