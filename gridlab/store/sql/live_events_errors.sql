-- How many error / critical events are stored: all ($symbol NULL), or one symbol's plus those
-- of the runner / account (symbol NULL), as live_events_recent.sql selects them.
SELECT count(*) AS n
FROM live_events
WHERE severity IN ('error', 'critical')
  AND ($symbol IS NULL OR symbol = $symbol OR symbol IS NULL);
