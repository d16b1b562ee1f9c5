"""Ports to the outside world: each a Protocol, a real client and a fake that records what it was asked.

Tests use the fakes; the real clients are exercised against a real local peer where one can run (SMTP).
This layer knows no medicine and no models: it carries what its callers give it.
"""
