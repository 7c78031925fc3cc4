-- Trades from _gl_tape; a trade id already stored (or repeated in the batch) is skipped.
INSERT INTO live_tape
SELECT CAST(symbol AS VARCHAR), CAST(ts AS BIGINT), CAST(price AS DOUBLE), CAST(size AS DOUBLE),
       CAST(side AS TINYINT), CAST(trade_id AS VARCHAR)
FROM _gl_tape
QUALIFY row_number() OVER (PARTITION BY symbol, trade_id ORDER BY ts) = 1
ON CONFLICT DO NOTHING;
