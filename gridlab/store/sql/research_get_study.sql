-- One study by id (or unique id prefix).
SELECT * FROM studies WHERE starts_with(study_id, $study_id) ORDER BY study_id LIMIT 2;
