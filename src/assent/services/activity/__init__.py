"""Activity: events clients post (`events`) and the metrics they and the ledger name (`metrics`)."""
