"""Directory: professionals (RPPS, ADELI), establishments (FINESS), GHT roles, communes of the territory."""
