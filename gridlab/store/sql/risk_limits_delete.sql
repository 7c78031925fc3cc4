DELETE FROM risk_limits WHERE symbol = $symbol AND category = $category;
