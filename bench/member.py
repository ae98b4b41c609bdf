"""A signed-in member for the benchmark: an account, a sign-in at federation, and the blog's
session cookie that carries it — made the way single sign-on makes them, with the platform's
own settings, so the blog treats the benchmark's requests exactly like a member's browser."""

from __future__ import annotations

import asyncio
import secrets

from shared.config import Settings
from shared.db import create_engine, create_session_factory
from shared.services.registry import build_services


async def _sign_in(settings: Settings) -> tuple[int, str]:
    engine = create_engine(settings)
    try:
        identity = build_services(settings).identity
        async with create_session_factory(engine)() as session, session.begin():
            name = f"bench{secrets.token_hex(3)}"
            account = await identity.create_account(
                session,
                email=f"{name}@bench.example",
                username=name,
                password=secrets.token_urlsafe(16),
            )
            sign_in = await identity.start_session(session, account.id)
        return account.id, sign_in.sid
    finally:
        await engine.dispose()


async def _account(settings: Settings, password: str) -> str:
    engine = create_engine(settings)
    try:
        identity = build_services(settings).identity
        async with create_session_factory(engine)() as session, session.begin():
            name = f"bench{secrets.token_hex(3)}"
            await identity.create_account(
                session, email=f"{name}@bench.example", username=name, password=password
            )
        return name
    finally:
        await engine.dispose()


def member_account(settings: Settings) -> tuple[str, str]:
    """A fresh member's username and password, for a browser to sign in with."""
    password = secrets.token_urlsafe(16)
    return asyncio.run(_account(settings, password)), password


def member_cookie(settings: Settings, app_name: str = "blog") -> str:
    """A ``Cookie`` header value that signs a fresh member in at ``app_name``."""
    import importlib

    user_id, sid = asyncio.run(_sign_in(settings))
    app = importlib.import_module(f"{app_name}.app").create_app(settings)
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    value = serializer.dumps({"_auth": {"uid": user_id, "sid": sid}})
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"
