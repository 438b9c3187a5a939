"""Citizens, their national identifiers and the population registry they are checked against."""
