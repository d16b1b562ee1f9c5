"""Telesurveillance: programmes per indication, enrolment, device ingestion, alert rules and triage."""
