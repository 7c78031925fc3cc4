-- One sweep header by id (or unique id prefix).
SELECT * FROM sweeps WHERE starts_with(sweep_id, $sweep_id) ORDER BY sweep_id LIMIT 2;
