SELECT symbol, start_ts, end_ts, reason, recorded_at FROM live_tape_gaps ORDER BY symbol, start_ts;
