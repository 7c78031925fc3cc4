-- The latest runner events, newest first.
SELECT id, ts, kind, severity, message, details
FROM live_events
ORDER BY id DESC
LIMIT $limit;
