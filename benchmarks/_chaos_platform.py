"""The processes `benchmarks/chaos.py` kills: a PostgreSQL of its own (initdb in a scratch folder, on a port of
its own, never a shared server), a ``maillage serve`` and a ``maillage worker`` on it (imported by the script, not
run by `make bench`)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are: ``MAILLAGE_CHAOS_PG_BINDIR``, else ``pg_config --bindir``, else the newest
    version of Debian's layout."""
    candidates: list[Path] = []
    if os.environ.get("MAILLAGE_CHAOS_PG_BINDIR"):
        candidates.append(Path(os.environ["MAILLAGE_CHAOS_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if found:
            candidates.append(Path(found))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise SystemExit("initdb et pg_ctl introuvables : installez PostgreSQL ou définissez MAILLAGE_CHAOS_PG_BINDIR.")


class Postgres:
    """A PostgreSQL cluster created for the run. As root, its commands run as the ``postgres`` account (initdb
    refuses root); fsync stays on: the durability of an acknowledged commit is what the run checks."""

    def __init__(self, folder: Path, port: int):
        self.folder, self.port = folder, port
        self.data, self.log = folder / "data", folder / "postgres.log"
        self.bindir = postgres_bindir()
        self.owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/maillage"

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / program), *args]
        if self.owner is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} : {done.stdout}{done.stderr}")
        return done

    def create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.owner is not None:
            os.chown(self.folder, self.owner.pw_uid, self.owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                  "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.folder}'\nshared_buffers = 64MB\nmax_connections = 60\n"
                       "fsync = on\nsynchronous_commit = on\n")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "maillage")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "180", "start")

    def crash(self) -> None:
        """The server goes down as on a power cut: no checkpoint, crash recovery at the next start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)


class Process:
    """One ``maillage`` command, restarted after each kill; its output appended to a log of its own."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.args, self.env, self.log = args, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.exits = 0  # exits nobody asked for (a crash of its own)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "maillage.cli", *self.args], env=self.env,
                                            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def restart_if_exited(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            self.exits += 1
            self.start()
            return True
        return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def wait_ready(url: str, serve: Process, seconds: float = 300) -> None:
    """Until ``/readyz`` answers 200 (the server is up and reaches its database)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        serve.restart_if_exited()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"le serveur ne répond pas après {seconds:.0f} s : {serve.log.read_text()[-3000:]}")
