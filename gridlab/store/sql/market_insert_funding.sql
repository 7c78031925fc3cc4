-- Bulk insert of funding rates from _gl_in; existing (symbol, ts) rows are kept.
INSERT INTO funding
SELECT CAST(symbol AS VARCHAR), CAST(ts AS BIGINT), CAST(rate AS DOUBLE)
FROM _gl_in
ON CONFLICT DO NOTHING;
