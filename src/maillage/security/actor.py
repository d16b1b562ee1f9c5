"""The actor: who is acting, in which role, for which establishment, authenticated how."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from maillage.security.roles import Role


@dataclass(frozen=True)
class Actor:
    user_id: uuid.UUID
    username: str
    display_name: str
    role: Role
    establishment_ids: tuple[uuid.UUID, ...] = ()
    current_establishment_id: uuid.UUID | None = None
    auth_method: str = "session"  # session | token | device | oidc
    session_id: uuid.UUID | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)  # for tokens; empty = the role's permissions
    token_id: uuid.UUID | None = None  # the personal or service token the request came with

    @property
    def role_label(self) -> str:
        return self.role.label

    @property
    def audit_fields(self) -> dict[str, Any]:
        """What the audit trail records about the actor (no name: the user id resolves it)."""
        return {
            "actor_id": str(self.user_id),
            "actor_role": self.role.value,
            "establishment_id": str(self.current_establishment_id) if self.current_establishment_id else None,
        }
