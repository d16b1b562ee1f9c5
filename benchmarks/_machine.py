"""What every benchmark prints about the machine it ran on (imported by the scripts, not run by `make bench`)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The processor's model name, as the kernel reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg(values: tuple[float, float, float] | None = None) -> str:
    """The load average over 1, 5 and 15 minutes: a shared machine's figures are lower bounds."""
    return ", ".join(f"{x:.2f}" for x in (values or os.getloadavg()))
