"""Consent: changes for one profile (`changes`) or in bulk (`bulk`), double opt-in (`double_optin`, emails in
`confirmations`), the change feed and timelines (`feed`), ledger verification and rebuild (`ledger_checks`),
the ledger read in seq order by its consumers (`ledger_events`)."""
