-- One set of a sweep.
SELECT * FROM sweep_results WHERE sweep_id = $sweep_id AND set_id = $set_id;
