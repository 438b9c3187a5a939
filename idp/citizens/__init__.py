"""Citizens' records: the account, its national identifiers and the population registry."""
