"""`rose-ash user create` and `rose-ash user set-password`; `rose-ash oidc-client ...` is
declared beside the tools it manages (shared/services/identity/oidc/commands.py).

The commands set ``needs_services``: `rose-ash` installs the services before running them."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from shared.config import load_settings
from shared.db import create_engine, create_session_factory
from shared.errors import CommandError, DomainError
from shared.infrastructure.context import services
from shared.services.domain import Subcommands
from shared.services.identity.oidc import commands as oidc_commands


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("user", help="manage accounts")
    users = p.add_subparsers(dest="user_command", required=True)
    u = users.add_parser("create", help="create a verified account (the first admin, say)")
    u.add_argument("--email", required=True)
    u.add_argument("--username", required=True)
    u.add_argument("--display-name", help="the name shown to others (default: the username)")
    u.add_argument("--admin", action="store_true", help="give the admin role")
    u.add_argument("--editor", action="store_true", help="give the editor role")
    u.add_argument(
        "--password", help="the password (default: prompt, or one line from stdin if not a tty)"
    )
    u.set_defaults(func=_user, needs_services=True)
    u = users.add_parser("set-password", help="set the password of an account")
    u.add_argument("login", help="email address or username")
    u.add_argument("--password", help="the password (default: prompt, or one line from stdin)")
    u.set_defaults(func=_user, needs_services=True)
    oidc_commands.add_commands(sub)


def _read_password(args: argparse.Namespace) -> str:
    """--password, else a prompt on a terminal, else one line from stdin (for scripts)."""
    if args.password is not None:
        return str(args.password)
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != first:
            raise CommandError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _user(args: argparse.Namespace) -> int:
    settings = load_settings()
    service = services().identity
    password = _read_password(args)

    async def run() -> str:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as db, db.begin():
                if args.user_command == "create":
                    roles = ["admin"] if args.admin else []
                    if args.editor:
                        roles.append("editor")
                    account = await service.create_account(
                        db,
                        email=args.email,
                        username=args.username,
                        display_name=args.display_name or "",
                        password=password,
                        roles=roles,
                    )
                    return (
                        f"Created {account.username} <{account.email}> "
                        f"with roles {', '.join(account.roles)}."
                    )
                found = await service.find_account(db, args.login)
                if found is None:
                    raise CommandError(f"no account with email or username {args.login!r}")
                await service.set_password(db, found.id, password)
                return f"Password set for {found.username}."
        finally:
            await engine.dispose()

    try:
        print(asyncio.run(run()))
    except DomainError as err:
        raise CommandError(f"{err.message} ({err.code})") from None
    return 0
