"""E-prescription: the public drug database (BDPM) and, on it, prescriptions."""
