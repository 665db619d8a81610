"""Lists (`lists`) and loading one (`lookup`)."""
