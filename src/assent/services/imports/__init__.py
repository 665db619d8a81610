"""File imports of profiles: the import itself (`importer`), reading and validating rows (`rows`), the text
encoding (`encoding`) and header names (`headers`)."""
