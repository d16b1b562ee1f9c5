"""The ICE servers handed to the room's browsers: STUN URLs as they are, TURN URLs with a time-limited credential.

The credential follows the scheme coturn implements with ``use-auth-secret`` (the "TURN REST API" draft): the
username is the expiry as a Unix timestamp, optionally followed by ``:`` and a user tag, and the password is
``base64(HMAC-SHA1(shared secret, username))``. The TURN server, holding the same secret, recomputes the password and
refuses a username whose timestamp has passed. No secret in the settings: TURN URLs are handed without a credential
(a TURN server with static users); no URL: no ICE server at all, and peers on one network (or loopback) connect
directly.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Any

from maillage.config import Settings

SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


def turn_credential(secret: str, *, expires_at: dt.datetime, user: str = "") -> tuple[str, str]:
    """(username, password) valid until ``expires_at`` for a TURN server sharing ``secret``."""
    username = str(int(expires_at.timestamp()))
    if user:
        username = f"{username}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(settings: Settings, *, at: dt.datetime, user: str = "") -> list[dict[str, Any]]:
    """The RTCIceServer list for a browser entering a room at ``at`` (``user``: a tag without identity, such as
    the participant's role, that the TURN server's logs may show)."""
    urls = [u for u in settings.teleconsultation_ice_servers.split() if u.startswith(SCHEMES)]
    stun = [u for u in urls if u.startswith(("stun:", "stuns:"))]
    turn = [u for u in urls if u.startswith(("turn:", "turns:"))]
    servers: list[dict[str, Any]] = []
    if stun:
        servers.append({"urls": stun})
    if turn:
        secret = settings.teleconsultation_turn_secret.get_secret_value()
        if secret:
            expires = at + dt.timedelta(seconds=settings.teleconsultation_turn_ttl_seconds)
            username, password = turn_credential(secret, expires_at=expires, user=user)
            servers.append({"urls": turn, "username": username, "credential": password})
        else:
            servers.append({"urls": turn})
    return servers
