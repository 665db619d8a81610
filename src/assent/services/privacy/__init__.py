"""Privacy requests: erasure (with the tombstones that keep an opt-out), access exports, retention."""
