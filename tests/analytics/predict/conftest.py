"""The telesurveillance world (a team, a nurse, a physician, an enrolled heart-failure patient with a scale)."""

from tests.monitoring.conftest import _cheap_password_hashing, world  # noqa: F401 (fixtures)
