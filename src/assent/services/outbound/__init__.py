"""Consent flowing out of Assent: the account's state mirrored into another database (`sync`) and
its ledger events published to a broker (`stream`). Both consume the ledger in seq order through
`consent.ledger_events` and are handed their adapters (integrations/) by the caller."""
