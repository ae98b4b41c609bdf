"""Accounts and sign-in sessions: the identity domain, owned by the federation app.

Passwords are argon2id hashes (``argon2-cffi``); hashing runs in a thread so a sign-in never
stalls the event loop. Email links (verification, password reset, change of address) are
stateless signed tokens that expire; each one is bound to the state it changes (the current
address, a fingerprint of the current password hash) so it works once and goes stale after.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import APP_NAMES, AccountSettings, ConfigError, OAuthSettings, Settings
from shared.contracts import (
    AccountDTO,
    EmailChange,
    MemberUsageDTO,
    SessionDTO,
    SignUpRequest,
    SignUpResult,
    UserDTO,
)
from shared.contracts.errors import EmailUnverified, IdentityError, InvalidSignUp
from shared.errors import Conflict, NotFound
from shared.models import AuthSession, OAuthToken, User
from shared.models.identity import ROLES
from shared.services import audit

USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")
# Names a member may not take: the app actors' (blog@blog..., federation@federation...; a member
# with one of them would break both WebFinger round trips), and the names people and servers
# take for the operators or the server itself. Compared case-insensitively.
# fmt: off
RESERVED_USERNAMES = frozenset({
    *APP_NAMES,
    "abuse", "about", "actor", "admin", "administrator", "all", "anonymous", "ap", "api", "auth",
    "contact", "everyone", "help", "hostmaster", "inbox", "info", "instance", "mail",
    "mailer_daemon", "moderator", "moderators", "no_reply", "nobody", "nodeinfo", "noreply",
    "null", "official", "operator", "outbox", "owner", "postmaster", "relay", "root", "rose_ash",
    "roseash", "security", "settings", "signup", "social", "staff", "static", "support",
    "system", "undefined", "users", "webmaster", "well_known", "www",
})
# fmt: on
# Deliberately loose: the verification email is the real test of an address.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_PASSWORD_LENGTH = 1024


INVALID_CREDENTIALS = "The email address, username or password is not right."


T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Passwords:
    """argon2id hashing with one precomputed dummy hash, so that checking a password for an
    account that does not exist costs the same time as for one that does."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    @classmethod
    def from_settings(cls, accounts: AccountSettings) -> Passwords:
        return cls(
            PasswordHasher(
                time_cost=accounts.argon2_time_cost,
                memory_cost=accounts.argon2_memory_kib,
                parallelism=accounts.argon2_parallelism,
            )
        )

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(16))
            await asyncio.to_thread(self._check, self._dummy, password)
            return False
        return await asyncio.to_thread(self._check, stored, password)

    def _check(self, stored: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(stored, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return bool(self.hasher.check_needs_rehash(stored))


@dataclass(frozen=True)
class _Token:
    salt: str
    max_age_s: int


def _account(user: User) -> AccountDTO:
    return AccountDTO(
        id=user.id,
        email=user.email,
        username=user.username,
        display_name=user.display_name,
        roles=tuple(user.roles),
        email_verified=user.email_verified_at is not None,
        is_active=user.is_active,
        has_password=user.password_hash is not None,
        created_at=user.created_at,
    )


def _user(user: User) -> UserDTO:
    return UserDTO(user.id, user.username, user.display_name, tuple(user.roles))


def _checked(errors: dict[str, str], field: str, check: Callable[[], T]) -> T:
    """``check()``, or its refusal noted under ``field`` (and an empty value) so that every
    field of a form is checked before any is reported."""
    try:
        return check()
    except IdentityError as err:
        errors[field] = err.message
        return cast(T, "")


def _fingerprint(password_hash: str | None) -> str:
    """Changes whenever the password does, so a reset link works once."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:20]


def normalise_roles(roles: Sequence[str]) -> list[str]:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise IdentityError("unknown_role", f"Unknown role: {unknown[0]}.")
    # Every account is a member; keep the canonical order.
    wanted = {"member", *roles}
    return [r for r in ROLES if r in wanted]


class SqlIdentityService:
    """Sign-up, sign-in, email verification, password reset and change, roles, sessions
    (the :class:`~shared.contracts.IdentityService` of the registry)."""

    def __init__(
        self,
        secret: bytes | None = None,
        accounts: AccountSettings | None = None,
        oauth: OAuthSettings | None = None,
        passwords: Passwords | None = None,
    ) -> None:
        self.accounts = accounts or AccountSettings()
        self.oauth = oauth or OAuthSettings()
        self.passwords = passwords or Passwords.from_settings(self.accounts)
        self._secret = secret
        self._tokens = {
            "verify": _Token("verify-email", self.accounts.verify_email_ttl_s),
            "reset": _Token("reset-password", self.accounts.reset_ttl_s),
            "email": _Token("change-email", self.accounts.verify_email_ttl_s),
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> SqlIdentityService:
        """Configured by ``settings``; email links are signed with a key derived from
        ``ROSE_SECRET_KEY`` (without it, everything but the email links still works)."""
        master = settings.secrets.secret_key
        secret = (
            hmac.new(master.encode(), b"identity:email-links", hashlib.sha256).digest()
            if master
            else None
        )
        return cls(secret, settings.accounts, settings.oauth)

    async def warm_up(self) -> None:
        """Compute the dummy hash now, so the first "no such account" is not the slow one."""
        await self.passwords.verify(None, "")

    # --- validation --------------------------------------------------------------------

    def _check_password(self, password: str) -> None:
        if len(password) < self.accounts.min_password_length:
            raise IdentityError(
                "weak_password",
                f"Choose a password of at least {self.accounts.min_password_length} characters.",
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise IdentityError("weak_password", "That password is too long.")

    @staticmethod
    def _clean_email(email: str) -> str:
        email = email.strip()
        if len(email) > 320 or not EMAIL_RE.match(email):
            raise IdentityError("invalid_email", "Enter a valid email address.")
        return email

    @staticmethod
    def _clean_username(username: str) -> str:
        username = username.strip()
        if not USERNAME_RE.match(username):
            raise IdentityError(
                "invalid_username",
                "A username has 1 to 30 letters, digits or underscores.",
            )
        if username.lower() in RESERVED_USERNAMES:
            raise IdentityError("reserved_username", "That username is reserved; choose another.")
        return username

    @staticmethod
    def _clean_display_name(name: str, username: str) -> str:
        name = " ".join(name.split())
        if len(name) > 100:
            raise IdentityError("invalid_display_name", "A name has at most 100 characters.")
        return name or username

    # --- lookups -----------------------------------------------------------------------

    async def _by_email(self, session: AsyncSession, email: str) -> User | None:
        found: User | None = await session.scalar(
            select(User).where(func.lower(User.email) == email.strip().lower())
        )
        return found

    async def _by_login(self, session: AsyncSession, login: str) -> User | None:
        login = login.strip().lower()
        found: User | None = await session.scalar(
            select(User).where(
                or_(func.lower(User.email) == login, func.lower(User.username) == login)
            )
        )
        return found

    async def _get(self, session: AsyncSession, user_id: int) -> User:
        user = await session.get(User, user_id)
        if user is None:
            raise NotFound("user_not_found", "There is no such account.")
        return user

    async def get_user(self, session: AsyncSession, user_id: int) -> UserDTO | None:
        """The active account with this id, or None."""
        user = await session.scalar(
            select(User).where(User.id == user_id, User.is_active.is_(True))
        )
        return None if user is None else _user(user)

    async def get_account(self, session: AsyncSession, user_id: int) -> AccountDTO | None:
        """The account with this id, or None."""
        user = await session.get(User, user_id)
        return _account(user) if user is not None else None

    async def find_account(self, session: AsyncSession, login: str) -> AccountDTO | None:
        """The account whose email or username is ``login`` (any case), or None."""
        user = await self._by_login(session, login)
        return _account(user) if user is not None else None

    async def member_usage(self, session: AsyncSession) -> MemberUsageDTO:
        """Verified, active accounts, and those of them who signed in within 30 and 180
        days."""
        now = utcnow()
        members = (User.is_active.is_(True), User.email_verified_at.is_not(None))

        async def signed_in_since(days: int) -> int:
            return int(
                await session.scalar(
                    select(func.count(func.distinct(AuthSession.user_id)))
                    .join(User, User.id == AuthSession.user_id)
                    .where(*members, AuthSession.created_at >= now - timedelta(days=days))
                )
                or 0
            )

        total = await session.scalar(select(func.count()).select_from(User).where(*members))
        return MemberUsageDTO(
            int(total or 0), await signed_in_since(30), await signed_in_since(180)
        )

    async def list_accounts(
        self, session: AsyncSession, query: str = "", limit: int = 100
    ) -> list[AccountDTO]:
        """Accounts whose email, username or name contains ``query``, oldest first."""
        stmt = select(User).order_by(User.id).limit(limit)
        if query.strip():
            like = f"%{query.strip().lower()}%"
            stmt = stmt.where(
                or_(
                    func.lower(User.email).like(like),
                    func.lower(User.username).like(like),
                    func.lower(User.display_name).like(like),
                )
            )
        return [_account(u) for u in (await session.scalars(stmt)).all()]

    async def accounts_with_role(self, session: AsyncSession, role: str) -> list[AccountDTO]:
        """Active accounts that hold ``role`` (admins hold every role), oldest first."""
        stmt = (
            select(User)
            .where(
                User.is_active.is_(True),
                User.roles.overlap([role, "admin"]),
            )
            .order_by(User.id)
        )
        return [_account(u) for u in (await session.scalars(stmt)).all()]

    # --- accounts ----------------------------------------------------------------------

    async def sign_up(self, session: AsyncSession, req: SignUpRequest) -> SignUpResult:
        """Create an unverified member, or report the existing account with that email."""
        errors: dict[str, str] = {}
        email = _checked(errors, "email", lambda: self._clean_email(req.email))
        username = _checked(errors, "username", lambda: self._clean_username(req.username))
        display_name = _checked(
            errors,
            "display_name",
            lambda: self._clean_display_name(req.display_name, username or req.username),
        )
        _checked(errors, "password", lambda: self._check_password(req.password))
        if errors:
            raise InvalidSignUp(errors)
        existing = await self._by_email(session, email)
        if existing is not None:
            # Still hash, so the answer takes as long as for a new account.
            await self.passwords.hash(req.password)
            return SignUpResult(account=None, existing=_account(existing))
        account = await self._insert(
            session, email, username, display_name, await self.passwords.hash(req.password), []
        )
        return SignUpResult(account=account, existing=None)

    async def create_account(
        self,
        session: AsyncSession,
        *,
        email: str,
        username: str,
        password: str,
        display_name: str = "",
        roles: Sequence[str] = (),
        verified: bool = True,
    ) -> AccountDTO:
        """An account made by an operator (the CLI): verified unless told otherwise."""
        email = self._clean_email(email)
        username = self._clean_username(username)
        display_name = self._clean_display_name(display_name, username)
        self._check_password(password)
        if await self._by_email(session, email) is not None:
            raise Conflict("email_taken", "An account with that email address already exists.")
        account = await self._insert(
            session,
            email,
            username,
            display_name,
            await self.passwords.hash(password),
            normalise_roles(roles),
            verified=verified,
        )
        audit.record(
            session,
            "user.created",
            object_type="user",
            object_id=account.id,
            actor="cli",
            after={"username": account.username, "roles": list(account.roles)},
        )
        return account

    async def _insert(
        self,
        session: AsyncSession,
        email: str,
        username: str,
        display_name: str,
        password_hash: str,
        roles: list[str],
        *,
        verified: bool = False,
    ) -> AccountDTO:
        taken = await session.scalar(
            select(User.id).where(func.lower(User.username) == username.lower())
        )
        if taken is not None:
            raise Conflict("username_taken", "That username is taken; choose another.")
        user = User(
            email=email,
            username=username,
            display_name=display_name,
            password_hash=password_hash,
            roles=roles or ["member"],
            email_verified_at=utcnow() if verified else None,
        )
        try:
            async with session.begin_nested():
                session.add(user)
                await session.flush()
        except IntegrityError:
            # A concurrent sign-up won the unique index between our check and the insert.
            raise Conflict(
                "username_taken", "That username or email address is already registered."
            ) from None
        await session.refresh(user)
        return _account(user)

    async def set_password(self, session: AsyncSession, user_id: int, password: str) -> AccountDTO:
        """Set a password without knowing the old one (operators, reset links)."""
        self._check_password(password)
        user = await self._get(session, user_id)
        user.password_hash = await self.passwords.hash(password)
        audit.record(
            session,
            "user.password_set",
            object_type="user",
            object_id=user_id,
            actor_user_id=user_id,
        )
        await session.flush()
        return _account(user)

    async def set_display_name(
        self, session: AsyncSession, user_id: int, display_name: str
    ) -> AccountDTO:
        """Change the name shown to others (the username when left empty); audited."""
        user = await self._get(session, user_id)
        name = self._clean_display_name(display_name, user.username)
        if name != user.display_name:
            before = user.display_name
            user.display_name = name
            audit.record(
                session,
                "user.display_name_changed",
                object_type="user",
                object_id=user.id,
                actor_user_id=user.id,
                before={"display_name": before},
                after={"display_name": name},
            )
            await session.flush()
        return _account(user)

    async def set_roles(
        self, session: AsyncSession, actor: UserDTO, user_id: int, roles: Sequence[str]
    ) -> AccountDTO:
        """Give an account exactly these roles (member is implied); audited."""
        wanted = normalise_roles(roles)
        user = await self._get(session, user_id)
        if user.id == actor.id and "admin" in user.roles and "admin" not in wanted:
            raise IdentityError(
                "cannot_demote_self", "You cannot take the admin role from yourself."
            )
        before = list(user.roles)
        user.roles = wanted
        audit.record(
            session,
            "user.roles_changed",
            object_type="user",
            object_id=user.id,
            actor_user_id=actor.id,
            before={"roles": before},
            after={"roles": wanted},
        )
        await session.flush()
        return _account(user)

    # --- signing in --------------------------------------------------------------------

    async def authenticate(self, session: AsyncSession, login: str, password: str) -> AccountDTO:
        """The account for these credentials. An unknown account, a wrong password and a
        disabled account all raise the same ``invalid_credentials`` after the same work."""
        user = await self._by_login(session, login) if login.strip() else None
        stored = user.password_hash if user is not None else None
        ok = await self.passwords.verify(stored, password[:MAX_PASSWORD_LENGTH])
        if user is None or not ok or not user.is_active:
            raise IdentityError("invalid_credentials", INVALID_CREDENTIALS)
        if stored is not None and self.passwords.needs_rehash(stored):
            user.password_hash = await self.passwords.hash(password)
        if user.email_verified_at is None:
            raise EmailUnverified(_account(user))
        return _account(user)

    async def start_session(self, session: AsyncSession, user_id: int) -> SessionDTO:
        """A new sign-in with a fresh, unguessable sid."""
        now = utcnow()
        row = AuthSession(
            sid=secrets.token_urlsafe(32),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=self.oauth.session_ttl_s),
        )
        session.add(row)
        await session.flush()
        return SessionDTO(row.sid, user_id, row.created_at, row.expires_at)

    async def get_session(self, session: AsyncSession, sid: str) -> SessionDTO | None:
        """The session if it is still signed in (not ended, not expired, user active)."""
        row = await session.scalar(
            select(AuthSession)
            .join(User, User.id == AuthSession.user_id)
            .where(
                AuthSession.sid == sid,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > utcnow(),
                User.is_active.is_(True),
            )
        )
        if row is None:
            return None
        return SessionDTO(row.sid, row.user_id, row.created_at, row.expires_at)

    async def session_user(self, session: AsyncSession, sid: str) -> UserDTO | None:
        """The member signed in under ``sid``, or None when that sign-in has ended."""
        # Asked on every member's request whose answer is not cached: the four columns the
        # answer needs, not the whole account.
        row = (
            await session.execute(
                select(User.id, User.username, User.display_name, User.roles)
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(
                    AuthSession.sid == sid,
                    AuthSession.revoked_at.is_(None),
                    AuthSession.expires_at > utcnow(),
                    User.is_active.is_(True),
                )
            )
        ).first()
        return UserDTO(row.id, row.username, row.display_name, tuple(row.roles)) if row else None

    async def end_session(
        self, session: AsyncSession, sid: str, reason: str = "signed_out"
    ) -> bool:
        """End one sign-in (every app's session with this sid); True if it was active."""
        result = await session.execute(
            update(AuthSession)
            .where(AuthSession.sid == sid, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
            .returning(AuthSession.sid)
        )
        return result.first() is not None

    async def end_user_sessions(
        self, session: AsyncSession, user_id: int, *, keep_sid: str | None = None, reason: str
    ) -> list[str]:
        """End every sign-in of a member (except ``keep_sid``); returns the sids ended."""
        stmt = (
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
            .returning(AuthSession.sid)
        )
        if keep_sid is not None:
            stmt = stmt.where(AuthSession.sid != keep_sid)
        return list((await session.scalars(stmt)).all())

    # --- signed email links ------------------------------------------------------------

    def _serializer(self, kind: str) -> URLSafeTimedSerializer:
        if self._secret is None:
            raise ConfigError("ROSE_SECRET_KEY (environment variable): needed to sign email links")
        return URLSafeTimedSerializer(self._secret, salt=self._tokens[kind].salt)

    def _load(self, kind: str, token: str) -> dict[str, Any]:
        try:
            data = self._serializer(kind).loads(token, max_age=self._tokens[kind].max_age_s)
        except SignatureExpired:
            raise IdentityError(
                "token_expired", "This link has expired. Ask for a new one."
            ) from None
        except BadSignature:
            raise IdentityError("token_invalid", "This link is not valid.") from None
        if not isinstance(data, dict):
            raise IdentityError("token_invalid", "This link is not valid.")
        return data

    def verification_token(self, account: AccountDTO) -> str:
        """A link token that verifies this account's current address."""
        return str(self._serializer("verify").dumps({"u": account.id, "e": account.email}))

    async def verify_email(self, session: AsyncSession, token: str) -> tuple[AccountDTO, bool]:
        """Mark the address in the token verified; the account, and whether this use of the
        link is the one that verified it (the link signs in only then: it is single-use)."""
        data = self._load("verify", token)
        user = await session.get(User, data.get("u"))
        if user is None or user.email.lower() != str(data.get("e", "")).lower():
            raise IdentityError("token_invalid", "This link is not valid any more.")
        # One conditional UPDATE: of two uses racing, exactly one sees the row change.
        first = await session.scalar(
            update(User)
            .where(User.id == user.id, User.email_verified_at.is_(None))
            .values(email_verified_at=utcnow())
            .returning(User.id)
            .execution_options(synchronize_session="fetch")
        )
        await session.refresh(user)
        return _account(user), first is not None and user.is_active

    async def reset_token(self, session: AsyncSession, email: str) -> tuple[AccountDTO, str] | None:
        """A password-reset link token for the active account with this email, if any."""
        user = await self._by_email(session, email)
        if user is None or not user.is_active:
            return None
        token = self._serializer("reset").dumps(
            {"u": user.id, "p": _fingerprint(user.password_hash)}
        )
        return _account(user), str(token)

    async def check_reset_token(self, session: AsyncSession, token: str) -> AccountDTO:
        """The account a reset token is for, if it is still usable."""
        return _account(await self._reset_user(session, token))

    async def _reset_user(self, session: AsyncSession, token: str) -> User:
        data = self._load("reset", token)
        user = await session.get(User, data.get("u"))
        if (
            user is None
            or not user.is_active
            or not hmac.compare_digest(str(data.get("p", "")), _fingerprint(user.password_hash))
        ):
            raise IdentityError("token_invalid", "This link has already been used.")
        return user

    async def reset_password(
        self, session: AsyncSession, token: str, password: str
    ) -> tuple[AccountDTO, list[str]]:
        """Set a new password from a reset link; the address is thereby verified and every
        sign-in of the account ends. Returns the account and the sids ended."""
        self._check_password(password)
        user = await self._reset_user(session, token)
        user.password_hash = await self.passwords.hash(password)
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()
        audit.record(
            session,
            "user.password_reset",
            object_type="user",
            object_id=user.id,
            actor_user_id=user.id,
        )
        ended = await self.end_user_sessions(session, user.id, reason="password_reset")
        return _account(user), ended

    async def change_password(
        self, session: AsyncSession, user_id: int, current: str, new: str, *, keep_sid: str | None
    ) -> list[str]:
        """Change a password knowing the current one; other sign-ins end (returns their sids)."""
        user = await self._get(session, user_id)
        if not await self.passwords.verify(user.password_hash, current):
            raise IdentityError("wrong_password", "Your current password is not right.")
        self._check_password(new)
        user.password_hash = await self.passwords.hash(new)
        audit.record(
            session,
            "user.password_changed",
            object_type="user",
            object_id=user.id,
            actor_user_id=user.id,
        )
        return await self.end_user_sessions(
            session, user.id, keep_sid=keep_sid, reason="password_changed"
        )

    async def request_email_change(
        self, session: AsyncSession, user_id: int, password: str, new_email: str
    ) -> tuple[EmailChange, str]:
        """Check the password and the new address; return the change and the token for the
        confirmation link (sent to the new address). Nothing changes until it is followed."""
        user = await self._get(session, user_id)
        if not await self.passwords.verify(user.password_hash, password):
            raise IdentityError("wrong_password", "Your current password is not right.")
        new_email = self._clean_email(new_email)
        if new_email.lower() == user.email.lower():
            raise IdentityError("same_email", "That is already your email address.")
        if await self._by_email(session, new_email) is not None:
            raise Conflict("email_taken", "Another account uses that email address.")
        change = EmailChange(user.id, user.email, new_email)
        token = self._serializer("email").dumps({"u": user.id, "o": user.email, "n": new_email})
        return change, str(token)

    async def confirm_email_change(self, session: AsyncSession, token: str) -> AccountDTO:
        """Apply a change of address from its confirmation link (verified by following it)."""
        data = self._load("email", token)
        user = await session.get(User, data.get("u"))
        new_email = str(data.get("n", ""))
        if user is None:
            raise IdentityError("token_invalid", "This link is not valid any more.")
        if user.email.lower() == new_email.lower():
            return _account(user)  # followed twice
        if user.email.lower() != str(data.get("o", "")).lower():
            raise IdentityError("token_invalid", "This link is not valid any more.")
        if await self._by_email(session, new_email) is not None:
            raise Conflict("email_taken", "Another account uses that email address.")
        before = user.email
        user.email = new_email
        user.email_verified_at = utcnow()
        audit.record(
            session,
            "user.email_changed",
            object_type="user",
            object_id=user.id,
            actor_user_id=user.id,
            before={"email": before},
            after={"email": new_email},
        )
        await session.flush()
        return _account(user)

    # --- erasure -----------------------------------------------------------------------

    async def erase_account(self, session: AsyncSession, user_id: int) -> list[str]:
        """Anonymise the account for good and end every sign-in (returns the sids ended).

        The row stays, emptied, so that records other domains must keep (orders, the audit
        trail) still point at an id; nothing in it names the person any more, and with no
        password, no verified address and ``is_active`` false it can never sign in again.
        Its OAuth tokens go. The username stays, reserved: it is the public name of the
        member's fediverse actor, which answers 410 Gone at that URL for good, and Mastodon
        never hands a deleted account's name to someone else either."""
        user = await self._get(session, user_id)
        user.email = f"erased-{user.id}@erased.invalid"
        user.display_name = ""
        user.password_hash = None
        user.email_verified_at = None
        user.roles = ["member"]
        user.is_active = False
        await session.execute(delete(OAuthToken).where(OAuthToken.user_id == user.id))
        audit.record(
            session,
            "user.erased",
            object_type="user",
            object_id=user.id,
            actor_user_id=user.id,
        )
        ended = await self.end_user_sessions(session, user.id, reason="account_erased")
        await session.flush()
        return ended
