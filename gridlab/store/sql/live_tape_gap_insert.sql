INSERT INTO live_tape_gaps VALUES ($symbol, $start_ts, $end_ts, $reason, $recorded_at)
ON CONFLICT DO NOTHING;
