SELECT n, status, side, live_ts, sim_ts, live_price, sim_price, live_qty, sim_qty, live_fee,
       sim_fee, dt_ms
FROM live_audit_fills WHERE audit_id = $audit_id ORDER BY n;
