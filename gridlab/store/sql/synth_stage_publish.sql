-- Every staged synthetic trade into the trades table (inside the caller's transaction).
INSERT INTO trades SELECT * FROM synth_stage.trades;
