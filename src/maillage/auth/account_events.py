"""What the authentication use cases share: the settings in force, the account row lock, the audit of an account
event (sign-in, password change, second factor, administration)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.config import Settings, get_settings
from maillage.models.auth import UserAccount
from maillage.security.actor import Actor
from maillage.security.context import AuditContext


def settings_or_default(settings: Settings | None) -> Settings:
    return settings or get_settings()


def lock_user_row(session: Session, user: UserAccount) -> None:
    """Re-read the account under a row lock until the transaction ends (``FOR UPDATE`` on PostgreSQL; SQLite
    serialises writers already), before a guess is checked and counted: attempts sent at once are counted one
    after the other, on fresh counters, instead of each writing back the same count plus one."""
    session.flush()
    session.refresh(user, with_for_update=True)


def audit_user_event(session: Session, user: UserAccount | None, action: str, outcome: str = "success",
                context: AuditContext | None = None, actor: Actor | None = None, **details: Any) -> None:
    fields: dict[str, Any] = actor.audit_fields if actor else {
        "actor_id": str(user.id) if user else None, "actor_role": user.role if user else None,
        "establishment_id": None,
    }
    record(
        session, action=action, object_type="user_account", object_id=str(user.id) if user else None,
        outcome=outcome, context=context, details=details or None, **fields,
    )
