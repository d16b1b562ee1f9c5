"""Request id, client address behind trusted proxies, structured access log and security headers, as plain
ASGI middleware.

- The client address and scheme come from ``X-Forwarded-For`` / ``X-Forwarded-Proto`` only when the TCP peer
  is one of ``settings.trusted_proxies``; otherwise the peer is the client, whatever the headers say.
  (``maillage serve`` turns uvicorn's own proxy-header handling off, which trusts any loopback peer.)
- Every response that is not a static asset (a path with a ``/static/`` segment) gets
  ``Cache-Control: no-store`` (patient pages, JSON and files must not stay in a browser or proxy cache);
  a response already marked ``no-store`` keeps its own value.
- Over HTTPS (the request scheme, or a trusted proxy's ``X-Forwarded-Proto``), ``Strict-Transport-Security``.
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maillage.config import Settings
from maillage.kit.logging import bound_context, get_logger
from maillage.web.metrics import DbUse, Metrics, db_use_of_request

log = get_logger("maillage.http")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
}


NO_STORE = "no-store"


def _is_trusted(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def resolve_client(scope: Scope, settings: Settings) -> None:
    """Replace the scope's client and scheme by a trusted proxy's ``X-Forwarded-For`` / ``-Proto``.

    The client is the right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy (the
    left part of the header is whatever the caller wrote). Nothing changes when the peer is not trusted.
    """
    networks = settings.trusted_proxy_networks
    client = scope.get("client")
    if not networks or not client or not _is_trusted(str(client[0]), networks):
        return
    headers = dict(scope.get("headers") or [])
    forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage in the chain: stop at the last hop we could read
        if not _is_trusted(hop, networks):
            scope["client"] = (hop, 0)
            break
    proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[0].strip().lower()
    if proto in ("http", "https"):
        scope["scheme"] = proto


class RequestContextMiddleware:
    """The outermost layer of the application: the request id, the client behind trusted proxies, the security
    headers, the request's metrics (count, latency, SQL statements; ``Server-Timing`` when asked) and the access log
    line. One layer, one wrapper of ``send``: each layer of pure ASGI middleware is a call and, when it watches the
    response, one more wrapper per message (docs/adr/0018-web-tier-who-is-calling-and-the-stack.md)."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None, server_timing: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.server_timing = server_timing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        app = scope.get("app")
        settings: Settings | None = getattr(getattr(app, "state", None), "settings", None)
        if settings is not None:
            resolve_client(scope, settings)
        static = "/static/" in str(scope.get("path", ""))  # /static/… and a capability's own …/static/…
        https = scope.get("scheme") == "https"
        start = time.perf_counter()
        status = {"code": 500}
        use = DbUse()
        counting = db_use_of_request(use)
        server_timing = self.server_timing

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = rid
                for key, value in SECURITY_HEADERS.items():
                    if key not in headers:
                        headers[key] = value
                if not static and NO_STORE not in headers.get("cache-control", ""):
                    headers["cache-control"] = NO_STORE
                if https and settings is not None and settings.hsts_max_age_seconds:
                    headers["strict-transport-security"] = (
                        f"max-age={settings.hsts_max_age_seconds}; includeSubDomains")
                if server_timing:
                    headers.append("server-timing", f'sql;dur={use.seconds * 1000:.3f};desc="{use.statements}"')
            await send(message)

        with bound_context(request_id=rid), counting:
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None)  # the route template, never the raw path: ids
                duration = time.perf_counter() - start
                if self.metrics is not None:
                    self.metrics.observe(scope, template, status["code"], duration, use.statements)
                log.info(
                    "http.request",
                    method=scope.get("method"),
                    route=template,
                    status=status["code"],
                    duration_ms=round(duration * 1000, 1),
                )
