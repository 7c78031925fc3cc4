-- execTime of the newest stored execution (NULL when none).
SELECT max(exec_time) FROM live_fills;
