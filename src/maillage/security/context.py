"""From where an action comes, as the audit trail records it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuditContext:
    """From where: the request id and the client's address (or the job, or the command)."""

    request_id: str = ""
    address: str = ""
