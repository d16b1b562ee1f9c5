"""A real ``maillage serve`` process and a real headless Chromium driven by Playwright.

Without a browser the tests skip with a clear message; ``MAILLAGE_REQUIRE_BROWSER=1`` (CI) makes
them fail instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CHILD_PYTHONPATH, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, url: str, var_dir: Path, process: subprocess.Popen[bytes]):
        self.url = url
        self.var_dir = var_dir
        self.process = process


def start_server(var_dir: Path, extra_env: dict[str, str] | None = None, demo: bool = True) -> LiveServer:
    port = free_port()
    env = {**os.environ, "MAILLAGE_VAR_DIR": str(var_dir), "MAILLAGE_ENVIRONMENT": "development",
           "PYTHONPATH": CHILD_PYTHONPATH, **(extra_env or {})}
    env.pop("MAILLAGE_DATABASE_URL", None) if "MAILLAGE_DATABASE_URL" not in (extra_env or {}) else None
    args = [sys.executable, "-m", "maillage.cli", "serve", "--port", str(port)]
    if demo:
        args.append("--demo")
    log = open(var_dir.parent / f"server-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    # The demo builds its analytics warehouse (about 30 s alone, more under load; a shared machine may set more).
    start_seconds = float(os.environ.get("MAILLAGE_E2E_SERVER_START_SECONDS", "480"))
    deadline = time.monotonic() + start_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((var_dir.parent / f"server-{port}.log").read_text()[-3000:])
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return LiveServer(url, var_dir, process)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"maillage serve did not answer /healthz within {start_seconds:.0f} s")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("live")
    server = start_server(base / "var")
    yield server
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def submit_totp(page, username: str) -> None:  # type: ignore[no-untyped-def]
    """Type the demo account's current TOTP code. A code already used in this 30-second step (another test
    signed in the same account) is refused as a replay: wait for the next step and try once more."""
    import pyotp

    from maillage.demo.accounts import demo_totp_secret

    for attempt in range(2):
        page.get_by_label("Code").fill(pyotp.TOTP(demo_totp_secret(username)).now())
        page.get_by_role("button", name="Valider").click()
        page.wait_for_load_state()
        if "/connexion" not in page.url:
            return
        if attempt == 0:
            time.sleep(31 - time.time() % 30)
    raise AssertionError(f"{username} could not sign in")


def sign_in(page, url: str, username: str) -> None:  # type: ignore[no-untyped-def]
    """Password then TOTP, as a person would."""
    from maillage.demo.accounts import DEMO_PASSWORD

    page.goto(url + "/connexion")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/connexion/code**")
    submit_totp(page, username)


@contextlib.contextmanager
def signed_in(browser, url: str, username: str) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A page of a browser context of its own (another person at another computer), signed in as ``username``;
    the context is closed afterwards."""
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        sign_in(page, url, username)
        yield page
    finally:
        context.close()
