-- The per-set results of one sweep, in set order.
SELECT * FROM sweep_results WHERE sweep_id = $sweep_id ORDER BY set_id;
