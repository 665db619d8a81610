"""What the use cases share: the recorder (the one ledger writer), the database as commands open it, the clock,
ids, errors, paging positions, signed tokens, rate-limit counter stores, the outbox and the background loop."""
