-- Bulk insert of price klines (mark) from the registered relation _gl_in; stored bars are kept.
INSERT INTO price_klines
SELECT CAST(kind AS VARCHAR), CAST(symbol AS VARCHAR), CAST(category AS VARCHAR),
       CAST(interval AS VARCHAR), CAST(open_time AS BIGINT), CAST(open AS DOUBLE),
       CAST(high AS DOUBLE), CAST(low AS DOUBLE), CAST(close AS DOUBLE)
FROM _gl_in
ON CONFLICT DO NOTHING;
