-- Record a promotion; ids count up from 1.
INSERT INTO promotions (id, profile, version, promoted_at, note, run_id, params, source_kind,
                        source_id, lineage)
SELECT coalesce(max(id), 0) + 1, $profile, $version, $promoted_at, $note, $run_id, $params,
       $source_kind, $source_id, $lineage
FROM promotions
RETURNING id;
