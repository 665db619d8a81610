"""Accounts and their API keys (`accounts`), and per-account workflow settings (`settings`)."""
