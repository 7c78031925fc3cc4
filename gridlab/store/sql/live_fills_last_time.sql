-- execTime of the newest stored execution of one symbol, or of any ($symbol NULL); NULL when none.
SELECT max(exec_time) FROM live_fills WHERE $symbol IS NULL OR symbol = $symbol;
