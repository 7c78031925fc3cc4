-- One walk-forward by id (or unique id prefix).
SELECT * FROM walkforwards WHERE starts_with(wf_id, $wf_id) ORDER BY wf_id LIMIT 2;
