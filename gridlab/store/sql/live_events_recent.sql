-- The latest runner events, newest first: all ($symbol NULL), or one symbol's plus those of
-- the runner / account (symbol NULL).
SELECT id, ts, kind, severity, message, details, symbol
FROM live_events
WHERE $symbol IS NULL OR symbol = $symbol OR symbol IS NULL
ORDER BY id DESC
LIMIT $limit;
