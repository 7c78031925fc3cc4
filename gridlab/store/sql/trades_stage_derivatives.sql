-- Stage one Bybit derivatives trade dump (timestamp in seconds with a fraction) in file order.
-- ts: rounded to the microsecond (exact for up to 6 decimals), then floored to the millisecond.
{create} AS
SELECT CAST(round(timestamp * 1000000) AS BIGINT) // 1000 AS ts,
       price, size, side, trdMatchID AS trade_id, symbol AS file_symbol
FROM read_csv($path, header = true, auto_detect = false, columns = $columns,
              delim = ',', quote = '"', escape = '"', compression = $compression);
