INSERT INTO live_audit_fills
SELECT CAST($audit_id AS BIGINT), CAST(n AS INTEGER), CAST(status AS VARCHAR),
       CAST(side AS TINYINT), CAST(live_ts AS BIGINT), CAST(sim_ts AS BIGINT),
       CAST(live_price AS DOUBLE), CAST(sim_price AS DOUBLE), CAST(live_qty AS DOUBLE),
       CAST(sim_qty AS DOUBLE), CAST(live_fee AS DOUBLE), CAST(sim_fee AS DOUBLE),
       CAST(dt_ms AS BIGINT)
FROM _gl_audit;
