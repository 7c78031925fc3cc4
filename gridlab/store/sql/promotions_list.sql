-- Promotions, newest first.
SELECT id, profile, version, promoted_at, note, run_id, params
FROM promotions
ORDER BY id DESC
LIMIT $limit;
