-- Append one runner event.
INSERT INTO live_events (ts, kind, severity, message, details)
VALUES ($ts, $kind, $severity, $message, $details)
RETURNING id;
