"""Several servers behind a proxy: nginx (Debian's binary, its own configuration and prefix in a temporary folder)
in front of two ``maillage serve`` processes on one database, with the locations of ``deploy/nginx``. Through the
proxy: a browser signs in, opens the live worklist (server-sent events through nginx), a scale posts a batch, and
the red alert appears in the open page without a reload, whichever process took the batch.

Skipped when nginx is absent, unless ``MAILLAGE_REQUIRE_NGINX=1`` (CI installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from maillage.kit.db import make_engine
from tests.conftest import CHILD_PYTHONPATH, ROOT, postgres_url, run_migrations, skip_or_fail
from tests.e2e.servers import serve_process, stop, wait_for
from tests.e2e.test_monitoring import weight
from tests.monitoring.live import isolated_database, seed_with_server_keys, sessions_for, sign_in_nurse

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SERVER_PORTS = (8660, 8661)
PROXY_PORT = 8662
LOCATIONS = ROOT / "deploy" / "nginx" / "maillage-locations.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        skip_or_fail("MAILLAGE_REQUIRE_NGINX", "nginx absent : installez le paquet Debian « nginx »")
    return str(found)


def nginx_conf(prefix: Path) -> Path:
    servers = "\n".join(f"        server 127.0.0.1:{port};" for port in SERVER_PORTS)
    conf = f"""
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream maillage {{
{servers}
        keepalive 8;
    }}
    upstream maillage_rooms {{
        hash $request_uri consistent;
{servers}
    }}
    server {{
        listen 127.0.0.1:{PROXY_PORT};
        include {LOCATIONS};
    }}
}}
"""
    path = prefix / "nginx.conf"
    path.write_text(conf)
    return path


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """A migrated database both servers share: a schema of its own in the PostgreSQL test database, else SQLite."""
    base = postgres_url()
    if base is None:
        with isolated_database("sqlite", tmp_path) as url:
            yield url
        return
    schema = f"proxy_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    with engine.begin() as conn:
        run_migrations(conn)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def proxied(tmp_path: Path, database: str) -> Iterator[dict[str, object]]:
    binary = nginx_binary()
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = {**os.environ, "MAILLAGE_VAR_DIR": str(var_dir), "MAILLAGE_ENVIRONMENT": "development",
           "MAILLAGE_DATABASE_URL": database, "MAILLAGE_TRUSTED_PROXIES": "127.0.0.1",
           "MAILLAGE_RATE_LIMIT_STORE": "database",
           "MAILLAGE_PUBLIC_URL": f"http://127.0.0.1:{PROXY_PORT}", "PYTHONPATH": CHILD_PYTHONPATH}
    logs = [tmp_path / f"server-{port}.log" for port in SERVER_PORTS]
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    nginx_log = prefix / "stdout.log"
    # One after the other: the first creates the development keys both share.
    with serve_process(SERVER_PORTS[0], env, logs[0]), serve_process(SERVER_PORTS[1], env, logs[1]):
        nginx = subprocess.Popen([binary, "-p", str(prefix), "-c", str(nginx_conf(prefix)), "-g", "daemon off;"],
                                 stdout=nginx_log.open("wb"), stderr=subprocess.STDOUT)
        try:
            wait_for(f"http://127.0.0.1:{PROXY_PORT}/healthz", nginx, nginx_log, 30)
            yield {"url": f"http://127.0.0.1:{PROXY_PORT}", "var_dir": var_dir, "database": database, "logs": logs,
                   "access_log": prefix / "access.log"}
        finally:
            stop(nginx)


class TestBehindNginx:
    def test_sign_in_live_worklist_and_a_device_batch_through_the_proxy(self, proxied, page, monkeypatch):
        url = str(proxied["url"])
        sessions = sessions_for(str(proxied["database"]))
        try:
            world = seed_with_server_keys(sessions, Path(str(proxied["var_dir"])), monkeypatch)
        finally:
            sessions.kw["bind"].dispose()
        sign_in_nurse(page, url, world.nurse_username)
        page.goto(url + "/telesurveillance")
        page.wait_for_selector('#worklist[data-live="on"]', timeout=15_000)
        page.evaluate("window.__noReload = 'still here'")

        # A scale posts through the proxy; whichever process takes it, the open page hears of it.
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
            weight("w-1", 78.0, 3), weight("w-2", 78.9, 2), weight("w-3", 79.6, 1), weight("w-4", 80.3, 0)]}
        reply = httpx.post(url + "/api/monitoring/fhir", json=bundle, timeout=20,
                           headers={"Authorization": f"Bearer {world.secret}",
                                    "Content-Type": "application/fhir+json"})
        assert reply.status_code == 200, reply.text
        row = page.locator('section[data-group="red"] tr[data-condition="weight_gain_3d"]')
        row.wait_for(timeout=20_000)
        assert "2,3 kg" in row.inner_text()
        assert page.evaluate("window.__noReload") == "still here"

        # Both processes served requests (the proxy balanced them), and the stream went through nginx.
        logs: list[Path] = proxied["logs"]  # type: ignore[assignment]
        served = [log.read_text().count('"event": "http.request"') for log in logs]
        assert all(count > 0 for count in served), served
        page.goto("about:blank")  # nginx logs the stream when it ends
        access_log = Path(str(proxied["access_log"]))
        deadline = time.monotonic() + 10
        while "/telesurveillance/flux" not in access_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "GET /telesurveillance/flux HTTP/1.1\" 200" in access_log.read_text()

