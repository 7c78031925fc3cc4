-- The scratch database of a synthetic run (a file next to the store, or :memory:).
ATTACH $path AS synth_stage;
