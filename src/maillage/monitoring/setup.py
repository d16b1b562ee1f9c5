"""What telesurveillance installs in an application when ``create_app`` builds it, in one place.

- the batch runner (``batchpool.BatchRunner``) the device routes hand their batches to, kept on ``app.state``;
- the after-commit listener that wakes the live worklist (``live.install``).

Nothing here runs at import: importing the package registers no listener and starts no process.
"""

from __future__ import annotations

from typing import Any

from maillage.config import Settings
from maillage.monitoring import live
from maillage.monitoring.batchpool import BatchRunner


def configure(app: Any, settings: Settings, owns_engine: bool) -> None:
    app.state.monitoring_batch = BatchRunner.for_app(settings, owns_engine)
    live.install()
