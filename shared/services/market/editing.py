"""What every staff write to the catalogue shares: field checks, free slugs, the audit row.

Staff writes check every field first and report every problem at once
(:class:`~shared.contracts.errors.InvalidCatalogInput`, built from the ``errors`` dict each
check adds to), sanitize HTML and write an audit row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import Money
from shared.infrastructure.sanitize import SLUG_MAX, SLUG_RE, sanitize_html, slugify
from shared.services import audit

MAX_HTML_CHARS = 100_000


async def unique_slug(
    session: AsyncSession,
    model: Any,
    wanted: str,
    name: str,
    own_id: int | None,
    errors: dict[str, str],
) -> str:
    """The slug asked for (checked and free), or one made from ``name`` (made free)."""
    slug = wanted.strip().lower()
    if slug:
        if not SLUG_RE.match(slug) or len(slug) > SLUG_MAX:
            errors["slug"] = "Use lower-case letters, digits and single hyphens."
            return slug
        taken = await session.scalar(
            select(model.id).where(model.slug == slug, model.id != (own_id or 0))
        )
        if taken is not None:
            errors["slug"] = f"The slug {slug!r} is already used."
        return slug
    base = (slugify(name) or "item")[: SLUG_MAX - 6].rstrip("-")
    used = set(
        await session.scalars(
            select(model.slug).where(
                or_(model.slug == base, model.slug.like(f"{base}-%")),
                model.id != (own_id or 0),
            )
        )
    )
    slug, n = base, 2
    while slug in used:
        slug, n = f"{base}-{n}", n + 1
    return slug


def check_url(
    value: str | None, field: str, errors: dict[str, str], *, absolute: bool = False
) -> str | None:
    """A link (``absolute``: http or https) or an image (https, or a path on our own site
    such as ``/static/...``: every page's Content-Security-Policy allows only those)."""
    text = (value or "").strip()
    if not text:
        return None
    ok = len(text) <= 2000 and not any(c.isspace() or ord(c) < 32 for c in text)
    if ok:
        lowered = text.lower()
        if absolute:
            ok = lowered.startswith(("https://", "http://"))
        else:
            ok = lowered.startswith("https://") or (
                text.startswith("/") and not text.startswith("//")
            )
    if not ok:
        errors[field] = (
            "An address starting with https:// or http://"
            if absolute
            else "An address starting with https:// or a path starting with /"
        ) + f" (not {text[:60]!r})."
        return None
    return text


def check_html(value: str, field: str, errors: dict[str, str]) -> str:
    if len(value) > MAX_HTML_CHARS:
        errors[field] = f"At most {MAX_HTML_CHARS:,} characters."
        return ""
    return sanitize_html(value) if value.strip() else ""


def record_audit(
    session: AsyncSession,
    action: str,
    object_type: str,
    object_id: int,
    actor_user_id: int | None,
    before: Any,
    after: Any,
) -> None:
    """An audit row for a catalogue change; ``before`` and ``after`` are DTOs, dicts or None."""
    audit.record(
        session,
        action,
        object_type=object_type,
        object_id=object_id,
        actor_user_id=actor_user_id,
        before=_audit_view(before),
        after=_audit_view(after),
    )


def _audit_view(dto: Any) -> dict[str, Any] | None:
    """What an audit row keeps of a DTO: its own fields as JSON values (no nested lists of
    products, no HTML bodies beyond their length)."""
    if dto is None or isinstance(dto, dict):
        return dto
    view: dict[str, Any] = {}
    for name, value in vars(dto).items():
        if isinstance(value, Money):
            view[name] = {"amount_minor": value.amount_minor, "currency": value.currency}
        elif isinstance(value, datetime):
            continue
        elif name in ("description", "intro") and isinstance(value, str):
            view[name + "_chars"] = len(value)
        elif isinstance(value, (str, int, bool)) or value is None:
            view[name] = value
        elif name == "supplier":
            view[name] = value.slug if value is not None else None
        elif name in ("categories",):
            view[name] = [c.slug for c in value]
        elif name == "images":
            view[name] = [i.url for i in value]
        elif name == "items":
            view[name] = [
                f"product:{i.product.slug}" if i.product else f"category:{i.category.slug}"
                for i in value
            ]
    return view
