"""Risk segments from behaviour and value: the nightly scorecard and its recorded changes."""
