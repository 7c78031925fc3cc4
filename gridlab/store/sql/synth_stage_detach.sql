DETACH synth_stage;
