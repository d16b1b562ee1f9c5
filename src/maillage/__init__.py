"""Maillage: telehealth and health-data platform for a French territorial hospital group (GHT)."""

__version__ = "0.1.0"
