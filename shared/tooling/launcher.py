"""`rose-ash up`: the whole platform on one machine.

Starts the embedded PostgreSQL and Valkey when no ``DATABASE_URL``/``REDIS_URL`` is given
(data under ``.devdata/``, kept between runs), generates dev secrets once, migrates,
optionally seeds demo content, runs the six apps as Hypercorn processes and the worker
(the OutboxProcessor), prints their
URLs, and on Ctrl-C or SIGTERM stops everything it started. Children are tied to the
launcher with ``PR_SET_PDEATHSIG`` so even a killed launcher leaves no app behind; the
database servers it leaves are stopped by the next run (see ``devservers``).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from joserfc.jwk import RSAKey

from shared.config import APP_NAMES, Settings, load_settings
from shared.infrastructure.activitypub.keys import generate_private_key_pem
from shared.tooling import migrate, running
from shared.tooling.demo import seed_demo
from shared.tooling.devservers import (
    DataDirLock,
    DevServerError,
    EmbeddedPostgres,
    EmbeddedValkey,
)
from shared.tooling.heartbeat import HEARTBEAT_ENV

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 180.0
WORKER = "worker"
# With --demo: the demo supplier's website, for `rose-ash scrape orchard-lane` to import.
SUPPLIER_SITE = "supplier-site"
STOP_TIMEOUT_S = 15.0


def _oidc_private_key() -> str:
    return RSAKey.generate_key(2048).as_pem(private=True).decode()


def _ap_private_key() -> str:
    return generate_private_key_pem()


DEV_SECRET_GENERATORS: dict[str, Callable[[], str]] = {
    "ROSE_SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "ROSE_INTERNAL_SECRET": lambda: secrets.token_urlsafe(48),
    "ROSE_OIDC_PRIVATE_KEY": _oidc_private_key,
    "ROSE_AP_PRIVATE_KEY": _ap_private_key,
    # Keys for the SumUp stand-in (served when no real ROSE_SUMUP_API_KEY is in the
    # environment): the cart and the stand-in agree on them, no real SumUp account knows them.
    "ROSE_SUMUP_API_KEY": lambda: "sup_sk_standin_" + secrets.token_hex(16),
    "ROSE_SUMUP_MERCHANT_CODE": lambda: "MSTANDIN" + secrets.token_hex(2).upper(),
}
SUMUP_STANDIN = "sumup-standin"
# Kept with the dev secrets, but no environment variable: it reaches the apps in REDIS_URL.
VALKEY_PASSWORD = "valkey-password"  # noqa: S105 - the name of a generated secret


def _valkey_password() -> str:
    return secrets.token_urlsafe(32)


def dev_secrets(devdata: Path) -> dict[str, str]:
    """Secrets for a dev machine, generated once and kept in ``.devdata`` (never committed).

    A file from an older checkout gains the secrets added since, keeping the ones it has."""
    path = devdata / "dev-secrets.json"
    values: dict[str, str] = dict(json.loads(path.read_text())) if path.exists() else {}
    generators = {**DEV_SECRET_GENERATORS, VALKEY_PASSWORD: _valkey_password}
    missing = [name for name in generators if name not in values]
    if missing:
        for name in missing:
            values[name] = generators[name]()
        # Created as the owner's alone, never readable by others for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{parts.port}"))


def command_name() -> str:
    """How to run `rose-ash` in another terminal here: ``rose-ash`` when that is on PATH,
    else the path this launcher was started by (``.venv/bin/rose-ash``, the README's)."""
    started_as = sys.argv[0]
    if Path(started_as).name != "rose-ash":
        return "rose-ash"  # `python -m shared.tooling.cli`
    on_path = shutil.which("rose-ash")
    if on_path and Path(on_path).resolve() == Path(started_as).resolve():
        return "rose-ash"
    return started_as


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the launcher dies, however it dies."""
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:  # noqa: S310 - our own loopback URL
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Launcher:
    def __init__(
        self, settings: Settings, *, demo: bool = False, out: Callable[[str], None] = print
    ):
        self.settings = settings
        self.demo = demo
        self.out = out
        self.devdata = settings.devdata_path()
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.postgres: EmbeddedPostgres | None = None
        self.valkey: EmbeddedValkey | None = None
        self.lock = DataDirLock(self.devdata)
        self.heartbeat = self.devdata / "worker.heartbeat"
        self.sumup_standin_url: str | None = None
        self._stopping = False
        self._recorded = False

    def run(self) -> int:
        """Run until a signal arrives or an app exits; return the exit status."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        try:
            env = self._prepare()
            if self._stopping:
                return 0
            self._spawn(env)
            self._wait_until_up()
            cli = command_name()
            self.out("Rose Ash is running (Ctrl-C stops everything):")
            for name in APP_NAMES:
                self.out(f"  {name:<11} {self.settings.apps[name].public_url}")
            self.out(f"  {'worker':<11} delivering what the apps publish to the fediverse")
            if SUPPLIER_SITE in self.children:
                self.out(
                    f"  {'supplier':<11} {self._supplier_site_url()} (a demo supplier's shop: "
                    f"import it with `{cli} scrape orchard-lane`)"
                )
            if self.sumup_standin_url is not None:
                self.out(
                    f"  {'payments':<11} SumUp stand-in at {self.sumup_standin_url} "
                    "(TEST PAYMENTS: no money moves; set ROSE_SUMUP_API_KEY for real SumUp)"
                )
            self.out(
                f"First admin, in another terminal: {cli} user create --admin --email ... "
                "--username ... (commands there use this platform's database and Valkey); "
                "emails (sign-up, reset) are written to this log unless smtp.host is set."
            )
            return self._supervise()
        except DevServerError as err:
            self.out(f"rose-ash: error: {err}")
            return 1
        finally:
            self.stop()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _prepare(self) -> dict[str, str]:
        self.lock.acquire()
        env = dict(os.environ)
        # No SumUp key of the developer's own: payments go to the stand-in (TEST PAYMENTS).
        use_standin = not env.get("ROSE_SUMUP_API_KEY")
        generated = dev_secrets(self.devdata)
        valkey_password = generated.pop(VALKEY_PASSWORD)
        for key, value in generated.items():
            env.setdefault(key, value)
        if use_standin:
            port = load_settings(environ=env).sumup.standin_port
            self.sumup_standin_url = f"http://127.0.0.1:{port}"
            env["ROSE_SUMUP__BASE_URL"] = self.sumup_standin_url
        if not env.get("DATABASE_URL"):
            self.postgres = EmbeddedPostgres(self.devdata / "postgres")
            env["DATABASE_URL"] = self.postgres.start()
            self.out(f"PostgreSQL (embedded) at {env['DATABASE_URL']}")
        if not env.get("REDIS_URL"):
            self.valkey = EmbeddedValkey(self.devdata / "valkey", password=valkey_password)
            env["REDIS_URL"] = self.valkey.start()
            self.out(f"Valkey (embedded) at {_without_password(env['REDIS_URL'])}")
        self.settings = load_settings(environ=env)
        migrate.upgrade(self.settings)
        if self.demo:
            seed_demo(self.settings)
            self.out("Demo content seeded.")
        # For `rose-ash` commands in another terminal: the same servers, credentials included.
        running.record(self.devdata, env)
        self._recorded = True
        return env

    def _spawn(self, env: Mapping[str, str]) -> None:
        if self.sumup_standin_url is not None:
            port = self.sumup_standin_url.rsplit(":", 1)[1]
            self.children[SUMUP_STANDIN] = subprocess.Popen(  # noqa: S603 - our own module
                [sys.executable, "-m", "shared.services.cart.sumup_standin", "--port", port],
                env=dict(env),
                preexec_fn=_die_with_parent,
            )
        for name in APP_NAMES:
            self.children[name] = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "shared.tooling.cli", "serve", name],
                env=dict(env),
                preexec_fn=_die_with_parent,
            )
        # The OutboxProcessor: delivers what the apps publish to the fediverse. Its heartbeat
        # (the container's health check in production) tells us here that it got going.
        self.heartbeat.unlink(missing_ok=True)
        self.children[WORKER] = subprocess.Popen(
            [sys.executable, "-m", "shared.tooling.cli", "worker"],
            env={**env, HEARTBEAT_ENV: str(self.heartbeat)},
            preexec_fn=_die_with_parent,
        )
        if self.demo:
            port = str(self.settings.scrape.demo_site_port)
            self.children[SUPPLIER_SITE] = subprocess.Popen(  # noqa: S603 - our own module
                [sys.executable, "-m", "shared.services.market.scrape.demo_site", "--port", port],
                env=dict(env),
                preexec_fn=_die_with_parent,
            )

    def _supplier_site_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.scrape.demo_site_port}"

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        waiting = {*APP_NAMES, WORKER} | ({SUPPLIER_SITE, SUMUP_STANDIN} & set(self.children))
        while waiting and not self._stopping:
            for name in sorted(waiting):
                proc = self.children[name]
                if proc.poll() is not None:
                    if name == SUPPLIER_SITE:
                        # The platform does not need it: say so and carry on.
                        self.out(
                            f"rose-ash: the demo supplier site could not start on "
                            f"{self._supplier_site_url()} (port in use? set "
                            "ROSE_SCRAPE__DEMO_SITE_PORT)"
                        )
                        del self.children[name]
                        waiting.discard(name)
                        continue
                    raise DevServerError(
                        f"{name} exited during start-up (status {proc.returncode})"
                    )
                if name == SUPPLIER_SITE:
                    if _healthy(self._supplier_site_url()):
                        waiting.discard(name)
                elif name == WORKER:
                    if self.heartbeat.exists():
                        waiting.discard(name)
                elif name == SUMUP_STANDIN:
                    if self.sumup_standin_url and _healthy(self.sumup_standin_url):
                        waiting.discard(name)
                elif _healthy(self.settings.apps[name].internal_url):
                    waiting.discard(name)
            if time.monotonic() > deadline:
                raise DevServerError(
                    f"not up after {STARTUP_TIMEOUT_S:.0f}s: {', '.join(sorted(waiting))}"
                )
            time.sleep(0.2)

    def _supervise(self) -> int:
        """Wait for a signal. An app that dies is reported once and the others keep running
        (pages elsewhere show its fragments' last good copy); so do the apps when the worker
        dies (what they publish waits in the outbox). Only when every app is gone does the
        launcher give up."""
        reported: set[str] = set()
        while not self._stopping:
            for name, proc in self.children.items():
                if name not in reported and proc.poll() is not None:
                    reported.add(name)
                    self.out(
                        f"rose-ash: {name} stopped unexpectedly (status {proc.returncode}); "
                        + (
                            "the apps keep running, and what they publish waits in the outbox "
                            "until the worker runs again"
                            if name == WORKER
                            else "the apps keep running"
                            if name == SUPPLIER_SITE
                            else "the other apps keep running"
                        )
                    )
            if reported.issuperset(APP_NAMES):
                self.out("rose-ash: every app has stopped; shutting down")
                return 1
            time.sleep(0.3)
        return 0

    def stop(self) -> None:
        """Stop the apps, then the embedded servers; idempotent."""
        self._stopping = True
        for proc in self.children.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.children.clear()
        if self._recorded:
            running.forget(self.devdata)
            self._recorded = False
        if self.valkey is not None:
            self.valkey.stop()
            self.valkey = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        self.lock.release()


def up(demo: bool = False) -> int:
    return Launcher(load_settings(), demo=demo).run()
