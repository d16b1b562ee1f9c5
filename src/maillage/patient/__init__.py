"""Patients: national health identity (INS), identity status and strict traits, NIR and NIA."""
