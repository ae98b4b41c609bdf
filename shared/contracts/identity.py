"""The identity domain's contract: accounts, sign-ins and their DTOs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class UserDTO:
    """A member or staff account as other domains see it (no email, no password hash)."""

    id: int
    username: str
    display_name: str
    roles: tuple[str, ...]

    @property
    def name(self) -> str:
        """What to call the person on a page."""
        return self.display_name or self.username

    def has_role(self, role: str) -> bool:
        """Admins hold every role."""
        return role in self.roles or "admin" in self.roles


@dataclass(frozen=True)
class AccountDTO:
    """A member's own account details (federation's settings pages, the CLI, admins)."""

    id: int
    email: str
    username: str
    display_name: str
    roles: tuple[str, ...]
    email_verified: bool
    is_active: bool
    has_password: bool
    created_at: datetime

    def user(self) -> UserDTO:
        return UserDTO(self.id, self.username, self.display_name, self.roles)


@dataclass(frozen=True)
class SignUpRequest:
    email: str
    username: str
    password: str
    display_name: str = ""


@dataclass(frozen=True)
class SignUpResult:
    """``account`` is None when the email was already registered: the caller answers exactly
    as for a new account (no enumeration) and emails the owner instead."""

    account: AccountDTO | None
    existing: AccountDTO | None


@dataclass(frozen=True)
class MemberUsageDTO:
    """How many members there are, and how many signed in within a month and half a year
    (NodeInfo's ``usage.users``, the Mastodon API's instance usage)."""

    total: int
    active_month: int
    active_halfyear: int


@dataclass(frozen=True)
class SessionDTO:
    """A sign-in at federation; ``sid`` is shared by every app's session and ID token."""

    sid: str
    user_id: int
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class EmailChange:
    """A pending change of address, carried by the signed link sent to the new address."""

    user_id: int
    old_email: str
    new_email: str


class IdentityService(Protocol):
    """Accounts and sign-ins (owned by the federation app; every app asks who is signed in).

    Refusals are :class:`~shared.contracts.errors.IdentityError` (or ``NotFound``/``Conflict``)
    with a stable ``code``. A "sign-in" (``sid``) is one browser's sign-in at federation,
    shared by every app's session and ID token; ``session`` is always the database session.
    """

    async def warm_up(self) -> None:
        """Precompute what would make the first sign-in slower than the others."""
        ...

    # -- looking accounts up --

    async def get_user(self, session: AsyncSession, user_id: int) -> UserDTO | None:
        """The active account with this id, or None."""
        ...

    async def get_account(self, session: AsyncSession, user_id: int) -> AccountDTO | None:
        """The account with this id (active or not), or None."""
        ...

    async def find_account(self, session: AsyncSession, login: str) -> AccountDTO | None:
        """The account whose email or username is ``login`` (any case), or None."""
        ...

    async def list_accounts(
        self, session: AsyncSession, query: str = "", limit: int = 100
    ) -> list[AccountDTO]:
        """Accounts whose email, username or name contains ``query``, oldest first."""
        ...

    async def member_usage(self, session: AsyncSession) -> MemberUsageDTO:
        """Verified, active accounts, and those of them who signed in within 30 and 180
        days."""
        ...

    async def accounts_with_role(self, session: AsyncSession, role: str) -> list[AccountDTO]:
        """Active accounts that hold ``role`` (admins hold every role), oldest first."""
        ...

    # -- creating and changing accounts --

    async def sign_up(self, session: AsyncSession, req: SignUpRequest) -> SignUpResult:
        """Create an unverified member, or report the existing account with that email."""
        ...

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
        ...

    async def set_password(self, session: AsyncSession, user_id: int, password: str) -> AccountDTO:
        """Set a password without knowing the old one (operators)."""
        ...

    async def set_display_name(
        self, session: AsyncSession, user_id: int, display_name: str
    ) -> AccountDTO:
        """Change the name shown to others (the username when left empty)."""
        ...

    async def set_roles(
        self, session: AsyncSession, actor: UserDTO, user_id: int, roles: Sequence[str]
    ) -> AccountDTO:
        """Give an account exactly these roles (member is implied); audited."""
        ...

    # -- signing in and out --

    async def authenticate(self, session: AsyncSession, login: str, password: str) -> AccountDTO:
        """The account for these credentials; every kind of refusal costs the same time."""
        ...

    async def start_session(self, session: AsyncSession, user_id: int) -> SessionDTO:
        """A new sign-in with a fresh, unguessable sid."""
        ...

    async def get_session(self, session: AsyncSession, sid: str) -> SessionDTO | None:
        """The sign-in if it is still on (not ended, not expired, account active)."""
        ...

    async def session_user(self, session: AsyncSession, sid: str) -> UserDTO | None:
        """The member signed in under ``sid``, or None when that sign-in has ended."""
        ...

    async def end_session(
        self, session: AsyncSession, sid: str, reason: str = "signed_out"
    ) -> bool:
        """End one sign-in (in every app); True if it was still on."""
        ...

    async def end_user_sessions(
        self, session: AsyncSession, user_id: int, *, keep_sid: str | None = None, reason: str
    ) -> list[str]:
        """End every sign-in of a member (except ``keep_sid``); returns the sids ended."""
        ...

    # -- email links --

    def verification_token(self, account: AccountDTO) -> str:
        """A link token that verifies this account's current address."""
        ...

    async def verify_email(self, session: AsyncSession, token: str) -> tuple[AccountDTO, bool]:
        """Mark the address in the token verified; the account, and whether this use of the
        link is the one that verified it (the link signs in only then: it is single-use)."""
        ...

    async def reset_token(self, session: AsyncSession, email: str) -> tuple[AccountDTO, str] | None:
        """A password-reset link token for the active account with this email, if any."""
        ...

    async def check_reset_token(self, session: AsyncSession, token: str) -> AccountDTO:
        """The account a reset token is for, if it is still usable."""
        ...

    async def reset_password(
        self, session: AsyncSession, token: str, password: str
    ) -> tuple[AccountDTO, list[str]]:
        """Set a new password from a reset link; every sign-in ends (returns their sids)."""
        ...

    async def change_password(
        self,
        session: AsyncSession,
        user_id: int,
        current: str,
        new: str,
        *,
        keep_sid: str | None,
    ) -> list[str]:
        """Change a password knowing the current one; other sign-ins end (returns their sids)."""
        ...

    async def request_email_change(
        self, session: AsyncSession, user_id: int, password: str, new_email: str
    ) -> tuple[EmailChange, str]:
        """Check the password and the new address; the change and its confirmation token."""
        ...

    async def confirm_email_change(self, session: AsyncSession, token: str) -> AccountDTO:
        """Apply a change of address from its confirmation link."""
        ...

    # -- erasure (the account app's "delete my account") --

    async def erase_account(self, session: AsyncSession, user_id: int) -> list[str]:
        """Anonymise the account for good (no email, name or password left; it can never
        sign in again; its id stays for records kept by law) and end every sign-in;
        returns the sids ended."""
        ...
