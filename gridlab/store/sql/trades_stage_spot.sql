-- Stage one Bybit spot trade dump (timestamp in ms, side in lower case) in file order.
{create} AS
SELECT timestamp AS ts, price, volume AS size,
       CASE lower(side) WHEN 'buy' THEN 'Buy' WHEN 'sell' THEN 'Sell' ELSE side END AS side,
       CAST(id AS VARCHAR) AS trade_id, CAST(NULL AS VARCHAR) AS file_symbol
FROM read_csv($path, header = true, auto_detect = false, columns = $columns,
              delim = ',', quote = '"', escape = '"', compression = $compression);
