-- Promotions, newest first.
SELECT id, profile, version, promoted_at, note, run_id, params, coalesce(source_kind, ''),
       coalesce(source_id, ''), coalesce(lineage, '{}')
FROM promotions
ORDER BY id DESC
LIMIT $limit;
