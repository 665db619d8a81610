"""The demo account (`account`) and deterministic synthetic profiles (`synthetic`)."""
