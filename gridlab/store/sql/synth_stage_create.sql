-- The scratch copy of the trades table's columns (no rows).
CREATE TABLE synth_stage.trades AS SELECT * FROM trades WHERE false;
