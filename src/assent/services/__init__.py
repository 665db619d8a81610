"""Use cases, one unit of work each. Interfaces (CLI, API, web) call these, never the store."""
