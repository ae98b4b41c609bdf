"""Real servers inside the test process: apps under Hypercorn on free loopback ports, a server
that accepts connections and never answers, an embedded Valkey to stop at will.

The apps served here use their own engine on the run's test database (not the rolled-back
test transaction: several apps answer concurrently), so a test that writes rows commits them
and removes them itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from shared.config import APP_NAMES, Settings
from shared.contracts import AccountDTO
from shared.infrastructure.factory import RoseQuart
from shared.tooling.devservers import EmbeddedValkey, free_ports
from tests.identity.factories import make_member
from tests.support import GUARD_S, eventually
from tests.support.settings import make_settings


def _noop(_app: RoseQuart) -> None:
    return None


@dataclass
class LiveApp:
    name: str
    app: RoseQuart
    port: int
    task: asyncio.Task[None]
    shutdown: asyncio.Event

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        self.shutdown.set()
        await asyncio.wait_for(self.task, GUARD_S)


async def serve_app(app: RoseQuart, port: int) -> LiveApp:
    """Serve ``app`` on ``port`` until its :meth:`LiveApp.stop`. The app answers ``/healthz`` with
    ``{"app": <its name>}`` (every Rose Ash app does; a stand-in must too), so an answer from
    another server that holds the port is not mistaken for this one's."""
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.graceful_timeout = 1.0
    config.accesslog = None
    shutdown = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=shutdown.wait))
    live = LiveApp(app.name, app, port, task, shutdown)
    async with httpx.AsyncClient(trust_env=False) as client:

        async def answers() -> bool:
            if task.done():
                task.result()  # raises the reason it did not start
            with contextlib.suppress(httpx.HTTPError):
                answer = await client.get(f"{live.url}/healthz", timeout=5)
                if answer.status_code == 200 and answer.json().get("app") != app.name:
                    # Another server holds the port: this app's own server cannot bind it.
                    raise OSError(f"port {port} is {answer.json().get('app')}'s, not {app.name}'s")
                return answer.status_code == 200
            return False

        await eventually(answers, f"{app.name} answering on port {port}")
    return live


@dataclass
class Platform:
    """The six apps' addresses for one test; start the ones a test needs with :meth:`start`."""

    database_url: str
    redis_url: str
    ports: dict[str, int] = field(
        default_factory=lambda: dict(zip(APP_NAMES, free_ports(len(APP_NAMES)), strict=True))
    )
    running: dict[str, LiveApp] = field(default_factory=dict)
    started: list[tuple[RoseQuart, object]] = field(default_factory=list)
    # Settings every app here gets (e.g. the test's SMTP sink); settings(**env) overrides them.
    env: dict[str, str] = field(default_factory=dict)
    # Members made by member() have addresses at this domain; close() deletes them.
    domain: str = field(default_factory=lambda: f"{secrets.token_hex(4)}.live.rose-ash.test")
    _engine: AsyncEngine | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def settings(self, *, redis_url: str | None = None, **env: str) -> Settings:
        """Settings where every app is reached at its port here (``env`` overrides any of it)."""
        addresses = {}
        for name in APP_NAMES:
            prefix = f"ROSE_APPS__{name.upper()}__"
            addresses[prefix + "PORT"] = str(self.ports[name])
            addresses[prefix + "PUBLIC_URL"] = self.url(name)
            addresses[prefix + "INTERNAL_URL"] = self.url(name)
        return make_settings(
            self.database_url, redis_url or self.redis_url, **{**addresses, **self.env, **env}
        )

    def build(
        self,
        name: str,
        settings: Settings | None = None,
        setup: Callable[[RoseQuart], None] = _noop,
    ) -> RoseQuart:
        module = importlib.import_module(f"{name}.app")
        app: RoseQuart = module.create_app(settings or self.settings())
        setup(app)
        return app

    async def start(
        self,
        name: str,
        settings: Settings | None = None,
        setup: Callable[[RoseQuart], None] = _noop,
    ) -> LiveApp:
        """Serve app ``name`` under Hypercorn on its port."""
        live = await serve_app(self.build(name, settings, setup), self.ports[name])
        self.running[name] = live
        return live

    async def serve(self, *names: str) -> None:
        """Serve each named app on its port, with this platform's settings."""
        for name in names:
            await self.start(name)

    @property
    def apps(self) -> dict[str, RoseQuart]:
        return {name: live.app for name, live in self.running.items()}

    async def member(self, username: str, **kw: Any) -> AccountDTO:
        """A verified member (committed: the apps here see it), deleted again by close()."""
        if self._engine is None:
            self._engine = create_async_engine(self.database_url)
        async with async_sessionmaker(self._engine)() as db, db.begin():
            return await make_member(db, username, email=f"{username}@{self.domain}", **kw)

    async def stop(self, name: str) -> None:
        await self.running.pop(name).stop()

    async def consumer(
        self,
        name: str,
        settings: Settings | None = None,
        setup: Callable[[RoseQuart], None] = _noop,
    ) -> RoseQuart:
        """App ``name`` started without a server, for its test client (its pages still fetch
        their fragments over real HTTP)."""
        app = self.build(name, settings, setup)
        ctx = app.test_app()
        await ctx.startup()
        self.started.append((app, ctx))
        return app

    async def close(self) -> None:
        failures: list[Exception] = []
        used = bool(self.running or self.started or self._engine is not None)
        for name in list(self.running):
            # One app that failed does not keep the others (and their connections) running.
            try:
                await self.stop(name)
            except Exception as exc:
                failures.append(exc)
        for _app, ctx in reversed(self.started):
            await ctx.shutdown()  # type: ignore[attr-defined]
        if used:
            engine = self._engine or create_async_engine(self.database_url)
            async with engine.begin() as conn:
                # Their sign-ins, codes and tokens go with them (ON DELETE CASCADE).
                await conn.execute(
                    text("DELETE FROM users WHERE email LIKE :pattern"),
                    {"pattern": f"%@{self.domain}"},
                )
                # The social hub knows the apps' actors as accounts of their hosts: these ports.
                await conn.execute(
                    text("DELETE FROM social_accounts WHERE domain = ANY(:hosts)"),
                    {"hosts": [f"127.0.0.1:{port}" for port in self.ports.values()]},
                )
            await engine.dispose()
        if failures:
            raise ExceptionGroup("apps that did not stop cleanly", failures)


@dataclass
class HangingServer:
    """A loopback port that accepts connections and never answers; counts what it accepted."""

    port: int = 0
    connections: int = 0


@contextlib.asynccontextmanager
async def hanging_server() -> AsyncIterator[HangingServer]:
    """A :class:`HangingServer` listening until the block ends."""
    hanging = HangingServer()
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hanging.connections += 1
        held.append(writer)  # keep it open, say nothing

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    hanging.port = int(server.sockets[0].getsockname()[1])
    try:
        yield hanging
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@contextlib.contextmanager
def private_valkey(tmp: Path) -> Iterator[tuple[EmbeddedValkey, str]]:
    """A Valkey of the test's own (so its command counts are the test's alone, and it can be
    stopped); yields the server and its URL."""
    server = EmbeddedValkey(tmp, persist=False)
    url = server.start()
    try:
        yield server, url
    finally:
        server.stop()
