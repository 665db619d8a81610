"""The staff console: its users and roles (`staff`), the changes staff make (`actions`), what it
shows of profiles (`profiles`), lists (`lists`), file imports run from it (`imports`) and its
opt-out analytics (`analytics`)."""
