"""HTTP plumbing for every package's endpoints and pages: the unit of work and the request id.

House rule 1: only the boundary commits. ``UnitOfWorkRoute`` is that boundary for HTTP: it commits
the request's session after the handler returns and *before* the response is sent, so an
acknowledged write is durable; any exception or error status rolls the whole request back.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

# The request's session, for the thread that runs a sync route (it inherits the request's context).
_request_session: ContextVar[Session | None] = ContextVar("maillage_request_session", default=None)


async def get_db(request: Request) -> AsyncIterator[Session]:
    """The request's session. Opening it sends nothing (the first statement checks a connection out), so this runs
    on the event loop: one thread hop fewer per request than a sync dependency, and another at its end."""
    factory = request.app.state.sessionmaker
    session: Session = factory()
    request.state.db = session
    _request_session.set(session)  # set in the request's own task: no other request sees it
    try:
        yield session
    finally:
        # Anything not committed by the route (error, exception) is rolled back here: that is a round trip, made
        # in a thread; a session whose transaction already ended only forgets its objects.
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


DbSession = Annotated[Session, Depends(get_db)]


AFTER_ROLLBACK = "maillage.after_rollback"


def after_rollback(session: Session, write: Callable[[Session], None]) -> None:
    """Ask the boundary to run ``write`` in a fresh transaction if this request ends rolled back.

    For records that must survive a refused request, such as the audit entry of a denied access.
    """
    session.info.setdefault(AFTER_ROLLBACK, []).append(write)


def _rollback(session: Session) -> None:
    pending: list[Callable[[Session], None]] = session.info.pop(AFTER_ROLLBACK, [])
    session.rollback()
    if pending:
        for write in pending:
            write(session)
        session.commit()


def _commit(session: Session) -> None:
    session.info.pop(AFTER_ROLLBACK, None)
    session.commit()


def _committing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A sync route, made into a coroutine that runs it in a worker thread and commits there when it returns
    normally, instead of in a second hop to a thread after it. A returned error response (status 400 and up) is left
    to the boundary, which rolls back or, with ``commit_on_error``, commits; an exception never reaches the commit.

    FastAPI sees a coroutine, so it validates and serialises the returned value on the event loop: for a plain
    ``def`` route it would hop to a worker thread once more for that (``fastapi.routing.serialize_response``), a
    few attribute reads that cost less than the hop. The route still runs in a thread, with the request's context
    (its session, its log fields) copied into it."""

    def run(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        session = _request_session.get()
        if (session is not None and session.in_transaction()
                and not (isinstance(result, Response) and result.status_code >= 400)):
            _commit(session)
        return result

    @functools.wraps(endpoint)
    async def in_thread(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(run, *args, **kwargs)

    return in_thread


class UnitOfWorkRoute(APIRoute):
    """Commit when the handler succeeds, before the response leaves; roll back otherwise.

    A handler that answers an error status but must keep its writes (a failed login increments a
    counter) sets ``request.state.commit_on_error = True``. A sync handler's commit happens at the end of its own
    thread (``_committing``, which also makes the route a coroutine for FastAPI: one thread hop per request for the
    route instead of two); what is still open after the response is built is committed here.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if inspect.isfunction(endpoint) and not inspect.iscoroutinefunction(endpoint):
            endpoint = _committing(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Any]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response: Response = await original(request)
            except BaseException:
                session = getattr(request.state, "db", None)
                if session is not None:
                    await run_in_threadpool(_rollback, session)
                raise
            session = getattr(request.state, "db", None)
            if session is not None:
                if response.status_code < 400 or getattr(request.state, "commit_on_error", False):
                    if session.in_transaction():  # else committed already, at the end of the route's thread
                        await run_in_threadpool(_commit, session)
                else:
                    await run_in_threadpool(_rollback, session)
            return response

        return handler


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def is_json_media(content_type: str) -> bool:
    """``application/json`` or any ``…+json`` type, parameters (``; charset=utf-8``) and case aside."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/") or request.url.path.startswith("/fhir/"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or request.headers.get("hx-request") == "true"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
