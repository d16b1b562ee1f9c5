"""Authorization: the role policy table, care relationships, break-the-glass, and the only way to patient data."""
