"""JSON API of authentication: who am I, personal access tokens."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from maillage.auth import repository as repo
from maillage.auth import tokens as auth_tokens
from maillage.auth.schemas import MeRead, TokenCreate, TokenIssued, TokenRead
from maillage.exceptions import NotFound, PermissionDenied
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.models.auth import UserAccount
from maillage.security.actor import Actor
from maillage.security.deps import current_actor

router = APIRouter(prefix="/api/auth", tags=["authentification"], route_class=UnitOfWorkRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Non authentifié"}, 403: {"description": "Action non permise"},
    404: {"description": "Introuvable"}, 422: {"description": "Données invalides"},
}


@router.get("/me", response_model=MeRead, summary="Qui suis-je", responses=ERRORS)
def me(actor: Annotated[Actor, Depends(current_actor)]) -> MeRead:
    return MeRead(
        user_id=actor.user_id, username=actor.username, display_name=actor.display_name, role=actor.role.value,
        role_label=actor.role_label, establishment_ids=list(actor.establishment_ids),
        auth_method=actor.auth_method, scopes=sorted(actor.scopes),
    )


def _own_user(db: DbSession, actor: Actor) -> UserAccount:
    if actor.auth_method not in ("session", "token"):
        raise PermissionDenied("Un jeton de service ne gère pas de jetons personnels.")
    user = db.get(UserAccount, actor.user_id)
    if user is None:
        raise NotFound()
    return user


def _session_only(request: Request, actor: Actor) -> None:
    """Managing one's tokens needs a browser session with the second factor passed: a token, whatever its
    scopes, may not list, create or revoke its siblings."""
    if getattr(request.state, "auth_via", None) != "cookie" or actor.session_id is None:
        raise PermissionDenied(
            "Les jetons se gèrent depuis une session ouverte avec la double authentification."
        )


@router.get("/tokens", response_model=list[TokenRead], summary="Mes jetons d'accès", responses=ERRORS)
def list_tokens(
    request: Request, db: DbSession, actor: Annotated[Actor, Depends(current_actor)],
) -> list[TokenRead]:
    _session_only(request, actor)
    user = _own_user(db, actor)
    return [TokenRead.model_validate(t) for t in repo.tokens_of(db, user.id)]


@router.post("/tokens", response_model=TokenIssued, status_code=201, summary="Créer un jeton d'accès personnel",
             responses=ERRORS)
def create_token(
    body: TokenCreate, request: Request, db: DbSession, actor: Annotated[Actor, Depends(current_actor)],
) -> TokenIssued:
    _session_only(request, actor)
    user = _own_user(db, actor)
    issued = auth_tokens.create_personal_token(db, user, name=body.name, scopes=body.scopes,
                                           days=body.expires_in_days, settings=request.app.state.settings)
    assert issued.expires_at is not None
    return TokenIssued(id=issued.id, token=issued.secret, scopes=issued.scopes, expires_at=issued.expires_at)


@router.delete("/tokens/{token_id}", status_code=204, summary="Révoquer un de mes jetons", responses=ERRORS,
               description="Depuis une session : n'importe lequel de mes jetons. Avec un jeton personnel : "
                           "ce jeton-là seulement (pour le retirer d'un système).")
def revoke_token(
    token_id: uuid.UUID, request: Request, db: DbSession, actor: Annotated[Actor, Depends(current_actor)],
) -> Response:
    if not (actor.auth_method == "token" and actor.token_id == token_id):
        _session_only(request, actor)
    user = _own_user(db, actor)
    auth_tokens.revoke_token(db, token_id, owner=user)
    return Response(status_code=204)
