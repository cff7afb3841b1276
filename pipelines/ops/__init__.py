"""Operating the pipeline: the Dagster instance, the UI launcher, schedules, sensors, checks."""
