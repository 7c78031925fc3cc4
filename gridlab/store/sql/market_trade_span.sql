SELECT min(ts), max(ts), count(*)
FROM trades WHERE symbol = $symbol AND category = $category;
