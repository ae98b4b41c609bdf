"""`rose-ash db roles`: the apps' PostgreSQL role, with only the rights the apps use.

Two roles share the database. The owner (MIGRATE_DATABASE_URL) owns the schema: `rose-ash migrate`
and this command connect as it. The apps and the worker connect as the role DATABASE_URL names,
which may read and write rows (SELECT, INSERT, UPDATE, DELETE on every table; USAGE and SELECT on
every sequence, SELECT so that `rose-ash backup`'s pg_dump reads their values) and nothing else:
no CREATE, ALTER, DROP or TRUNCATE. Default privileges grant the same on every table and sequence
the owner creates later, so a new migration needs no step of its own.

The command creates the apps' role when it is missing (the owner then needs CREATEROLE, or is a
superuser), sets its password to DATABASE_URL's, and grants; running it again changes nothing
else. It refuses when both URLs name the same role, or when the apps' role could change the
schema (a superuser, or the owner of the database or of any table in it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from shared.config import ConfigError, Settings
from shared.tooling.migrate import migration_url

ROW_RIGHTS = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_RIGHTS = "USAGE, SELECT"


@dataclass(frozen=True)
class RolesResult:
    app_role: str
    owner: str
    created: bool
    tables: int


def _dsn(url: str) -> tuple[str, dict[str, str]]:
    parsed = make_url(url).set(drivername="postgresql")
    host = parsed.query.get("host")
    kwargs = {"host": str(host)} if host else {}
    return parsed.set(query={}).render_as_string(hide_password=False), kwargs


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_statements(app_role: str, owner: str, database: str) -> list[str]:
    """What makes ``app_role`` able to use the rows of ``owner``'s schema and nothing more."""
    app, own = _ident(app_role), _ident(owner)
    return [
        f"GRANT CONNECT ON DATABASE {_ident(database)} TO {app}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"REVOKE CREATE ON SCHEMA public FROM {app}",
        f"GRANT USAGE ON SCHEMA public TO {app}",
        f"GRANT {ROW_RIGHTS} ON ALL TABLES IN SCHEMA public TO {app}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {app}",
        f"GRANT {SEQUENCE_RIGHTS} ON ALL SEQUENCES IN SCHEMA public TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {own} IN SCHEMA public"
        f" GRANT {ROW_RIGHTS} ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {own} IN SCHEMA public"
        f" GRANT {SEQUENCE_RIGHTS} ON SEQUENCES TO {app}",
    ]


async def ensure_app_role(owner_url: str, app_url: str) -> RolesResult:
    """Create or update the apps' role named in ``app_url``, connected as ``owner_url``'s."""
    app = make_url(app_url)
    app_role = app.username or ""
    if not app_role:
        raise ConfigError("DATABASE_URL names no user: the apps' role is its user")
    dsn, kwargs = _dsn(owner_url)
    conn = await asyncpg.connect(dsn, **kwargs)
    try:
        owner = str(await conn.fetchval("SELECT current_user"))
        database = str(await conn.fetchval("SELECT current_database()"))
        if owner == app_role:
            raise ConfigError(
                f"MIGRATE_DATABASE_URL and DATABASE_URL are both the role {owner!r}: the apps "
                "need a role of their own (set DATABASE_URL's user to another name)"
            )
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1", app_role
            )
            created = row is None
            if created:
                # CREATE ROLE takes no bind parameters: the password is quoted by the server.
                password = app.password or ""
                quoted = await conn.fetchval("SELECT quote_literal($1)", password)
                await conn.execute(
                    f"CREATE ROLE {_ident(app_role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
                    f" NOREPLICATION PASSWORD {quoted}"
                )
            else:
                if row["rolsuper"]:
                    raise ConfigError(
                        f"the apps' role {app_role!r} is a superuser: it could change the "
                        "schema; give the apps a role without SUPERUSER"
                    )
                if app.password:
                    quoted = await conn.fetchval("SELECT quote_literal($1)", app.password)
                    await conn.execute(f"ALTER ROLE {_ident(app_role)} PASSWORD {quoted}")
            owns = await conn.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = $1",
                app_role,
            )
            db_owner = await conn.fetchval(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", database
            )
            if owns or db_owner == app_role:
                raise ConfigError(
                    f"the apps' role {app_role!r} owns the database or {owns} of its tables: "
                    "owners may change the schema; the migrations' role must own them"
                )
            for statement in grant_statements(app_role, owner, database):
                await conn.execute(statement)
            tables = await conn.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            )
    finally:
        await conn.close()
    return RolesResult(app_role=app_role, owner=owner, created=created, tables=int(tables))


def roles(settings: Settings) -> RolesResult:
    if not settings.secrets.migrate_database_url:
        raise ConfigError(
            "MIGRATE_DATABASE_URL is not set (environment variable): the schema owner's "
            "connection, which grants the apps' role (DATABASE_URL's user) its rights"
        )
    return asyncio.run(ensure_app_role(migration_url(settings), settings.require("database_url")))
