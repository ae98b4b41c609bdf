"""`rose-ash oidc-client create|list|rotate-secret|delete`: the tools that sign members in
(registered OpenID Connect clients), as at federation's admin page /admin/tools."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import load_settings
from shared.db import create_engine, create_session_factory
from shared.errors import CommandError, DomainError
from shared.services.domain import Subcommands
from shared.services.identity.oidc import tools
from shared.services.identity.oidc.claims import SCOPES

T = TypeVar("T")


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("oidc-client", help="tools that sign members in (OpenID Connect clients)")
    clients = p.add_subparsers(dest="oidc_command", required=True)
    c = clients.add_parser("create", help="register a tool; prints its secret once")
    c.add_argument("client_id", help="3 to 50 lower-case letters, digits and hyphens")
    c.add_argument("--name", required=True, help="what members see on the consent page")
    c.add_argument(
        "--redirect-uri", action="append", required=True, help="exact match; repeat for more"
    )
    c.add_argument("--post-logout-redirect-uri", action="append", default=[])
    c.add_argument("--backchannel-logout-uri", default="")
    c.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        help="what it may learn (repeat; default: openid profile email)",
    )
    c.add_argument("--public", action="store_true", help="no secret: PKCE only (a browser app)")
    c.add_argument("--trusted", action="store_true", help="run by the cooperative: no consent")
    c.set_defaults(func=_create)
    ls = clients.add_parser("list", help="the registered tools")
    ls.set_defaults(func=_list)
    r = clients.add_parser("rotate-secret", help="a new secret (printed once); old tokens stop")
    r.add_argument("client_id")
    r.set_defaults(func=_rotate)
    d = clients.add_parser("delete", help="remove a tool; its tokens stop working")
    d.add_argument("client_id")
    d.set_defaults(func=_delete)


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    settings = load_settings()

    async def run() -> T:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as db, db.begin():
                return await work(db)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DomainError as err:
        raise CommandError(err.message) from None


def _create(args: argparse.Namespace) -> int:
    spec = tools.ToolSpec(
        client_id=args.client_id,
        name=args.name,
        redirect_uris=args.redirect_uri,
        post_logout_redirect_uris=args.post_logout_redirect_uri,
        backchannel_logout_uri=args.backchannel_logout_uri,
        scopes=args.scope or ["openid", "profile", "email"],
        public=args.public,
        trusted=args.trusted,
    )

    async def work(db: AsyncSession) -> str:
        row, secret = await tools.create_tool(db, spec)
        kind = "public (PKCE, no secret)" if secret is None else "confidential"
        lines = [f"Registered {row.name} ({row.client_id}), {kind}, scopes: {row.scope}."]
        if secret is not None:
            lines.append(f"client_secret: {secret}")
            lines.append("The secret is shown only now; `rotate-secret` makes a new one.")
        return "\n".join(lines)

    print(_run(work))
    return 0


def _list(args: argparse.Namespace) -> int:
    async def work(db: AsyncSession) -> list[str]:
        return [
            "\t".join(
                (
                    row.client_id,
                    row.name,
                    "public" if row.secret_hash is None else "confidential",
                    "trusted" if row.trusted else "consent",
                    row.scope,
                    " ".join(row.redirect_uris),
                )
            )
            for row in await tools.list_tools(db)
        ]

    for line in _run(work):
        print(line)
    return 0


def _rotate(args: argparse.Namespace) -> int:
    secret = _run(lambda db: tools.rotate_secret(db, args.client_id))
    print(f"client_secret: {secret}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    _run(lambda db: tools.delete_tool(db, args.client_id))
    print(f"Deleted {args.client_id}; its tokens no longer work.")
    return 0
