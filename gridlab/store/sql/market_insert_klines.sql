-- Bulk insert of klines from the registered relation _gl_in; existing bars are kept.
INSERT INTO klines
SELECT CAST(symbol AS VARCHAR), CAST(category AS VARCHAR), CAST(interval AS VARCHAR),
       CAST(open_time AS BIGINT), CAST(open AS DOUBLE), CAST(high AS DOUBLE),
       CAST(low AS DOUBLE), CAST(close AS DOUBLE), CAST(volume AS DOUBLE),
       CAST(turnover AS DOUBLE)
FROM _gl_in
ON CONFLICT DO NOTHING;
