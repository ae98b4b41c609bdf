"""The Mastodon API's instance endpoints, which fediverse directories and apps read:
``/api/v1/instance`` and ``/api/v2/instance`` (the instance is federation's host, where members
have their accounts). Public, read-only JSON; the figures are NodeInfo's."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from quart import Blueprint, Response, jsonify

from shared.config import Settings
from shared.contracts import MemberUsageDTO
from shared.infrastructure.activitypub.fetch import SOFTWARE_VERSION
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.media import IMAGES_PER_FORM
from shared.services.social.statuses import MAX_POST_CHARS

bp = Blueprint("instance", __name__)

# Mastodon's API version we answer like, and ours (apps read the first part).
VERSION = f"4.0.0 (compatible; RoseAsh {SOFTWARE_VERSION})"
SOURCE_URL = "https://rose-ash.com"


def _rules(settings: Settings) -> list[dict[str, str]]:
    lines = [line.strip() for line in settings.instance.rules.splitlines()]
    return [
        {"id": str(n), "text": text, "hint": ""} for n, text in enumerate(filter(None, lines), 1)
    ]


def _languages(settings: Settings) -> list[str]:
    return [code.strip() for code in settings.instance.languages.split(",") if code.strip()]


def _statuses() -> dict[str, int]:
    return {
        "max_characters": MAX_POST_CHARS,
        "max_media_attachments": IMAGES_PER_FORM,
        "characters_reserved_per_url": 23,
    }


def _media(settings: Settings) -> dict[str, Any]:
    side = settings.media.max_dimension
    return {
        "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
        "image_size_limit": settings.media.max_bytes,
        "image_matrix_limit": side * side,
        "video_size_limit": 0,
        "video_frame_rate_limit": 0,
        "video_matrix_limit": 0,
    }


def _json(doc: dict[str, Any]) -> Response:
    response = jsonify(doc)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "max-age=300"
    return response


async def _figures() -> tuple[MemberUsageDTO, int, int]:
    session = db_session()
    usage = await services().identity.member_usage(session)
    posts = await services().federation.local_post_count(session, "federation")
    peers = await services().federation.peer_count(session)
    return usage, posts, peers


@bp.get("/api/v1/instance")
async def instance_v1() -> Response:
    settings = current_platform().settings
    base = settings.apps["federation"].public_url
    usage, posts, peers = await _figures()
    return _json(
        {
            "uri": urlsplit(base).netloc,
            "title": settings.site_name,
            "short_description": settings.instance.description,
            "description": settings.instance.description,
            "email": settings.instance.contact_email,
            "version": VERSION,
            "urls": {},
            "stats": {"user_count": usage.total, "status_count": posts, "domain_count": peers},
            "thumbnail": f"{base}/static/img/actor-icon.png",
            "languages": _languages(settings),
            "registrations": settings.accounts.open_registrations,
            "approval_required": False,
            "invites_enabled": False,
            "configuration": {"statuses": _statuses(), "media_attachments": _media(settings)},
            "contact_account": None,
            "rules": _rules(settings),
        }
    )


@bp.get("/api/v2/instance")
async def instance_v2() -> Response:
    settings = current_platform().settings
    base = settings.apps["federation"].public_url
    usage = await services().identity.member_usage(db_session())  # v2 shows no other figure
    return _json(
        {
            "domain": urlsplit(base).netloc,
            "title": settings.site_name,
            "version": VERSION,
            "source_url": SOURCE_URL,
            "description": settings.instance.description,
            "usage": {"users": {"active_month": usage.active_month}},
            "thumbnail": {"url": f"{base}/static/img/actor-icon.png"},
            "languages": _languages(settings),
            "configuration": {
                "urls": {},
                "accounts": {"max_featured_tags": 0},
                "statuses": _statuses(),
                "media_attachments": _media(settings),
                "translation": {"enabled": False},
            },
            "registrations": {
                "enabled": settings.accounts.open_registrations,
                "approval_required": False,
                "message": None,
            },
            "contact": {"email": settings.instance.contact_email, "account": None},
            "rules": _rules(settings),
        }
    )
