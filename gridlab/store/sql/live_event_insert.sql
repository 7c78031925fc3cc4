-- Append one runner event ($symbol NULL: the runner / account, not one grid).
INSERT INTO live_events (ts, kind, severity, message, details, symbol)
VALUES ($ts, $kind, $severity, $message, $details, $symbol)
RETURNING id;
