"""``POST /webhooks/ghost``: Ghost says something changed; we check it and re-read it.

The webhook is only a trigger (EXTERNAL-APIS.md): its signature and timestamp are
verified, then the item is re-read from the Content API and stored through the same code
as `rose-ash ghost-sync`. Answers: 200 done, 401 unsigned or stale, 400 unreadable,
503 when Ghost cannot be read right now (Ghost retries), 404 when no Ghost is configured.
Never 410: that answer makes Ghost delete the webhook.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, jsonify, request

from shared.errors import DomainError, NotFound
from shared.infrastructure.context import current_platform, db_session
from shared.infrastructure.csrf import csrf_exempt
from shared.infrastructure.fragments import invalidate_after_commit
from shared.services.blog.ghost import (
    GhostContentClient,
    GhostError,
    WebhookSignatureError,
    verify_webhook,
    webhook_payload,
)
from shared.services.blog.ghost_media import ImageCopier
from shared.services.blog.ghost_sync import (
    NAV_FRAGMENT,
    WebhookPayloadError,
    admin_client,
    apply_webhook,
)

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)


@bp.errorhandler(DomainError)
async def _refusal_as_json(err: DomainError) -> Any:
    # Ghost is a machine: answer in JSON whatever it accepts. The request's transaction
    # was already rolled back when the error left the view.
    return jsonify({"error": {"code": err.code, "message": err.message}}), err.status


@bp.post("/webhooks/ghost")
@csrf_exempt("signed by Ghost")
async def ghost() -> Any:
    settings = current_platform().settings
    secret = settings.secrets.ghost_webhook_secret
    if not (settings.ghost.url and secret and settings.secrets.ghost_content_key):
        raise NotFound("ghost_not_configured", "No Ghost site is configured here.")
    body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    try:
        verify_webhook(
            secret,
            body,
            request.headers.get("X-Ghost-Signature"),
            window_s=settings.ghost.webhook_window_s,
        )
    except WebhookSignatureError as err:
        log.warning("ghost webhook refused: %s", err.code)
        raise DomainError(err.code, str(err), status=401) from None
    try:
        payload = webhook_payload(body)
    except ValueError:
        raise DomainError("webhook_malformed", "The webhook body is not JSON.") from None
    client = GhostContentClient.from_settings(settings, timeout=settings.ghost.webhook_timeout_s)
    try:
        async with client, admin_client(settings) as admin:
            result = await apply_webhook(
                db_session(),
                client,
                payload,
                page_size=settings.ghost.page_size,
                admin=admin,
                images=ImageCopier(settings, session=db_session()),
            )
    except WebhookPayloadError as err:
        raise DomainError("webhook_malformed", str(err)) from None
    except GhostError as err:
        log.warning("ghost webhook: could not re-read from Ghost: %s", err)
        raise DomainError(err.code, "Ghost cannot be read right now.", status=503) from None
    if result.navigation_changed:
        invalidate_after_commit(db_session(), NAV_FRAGMENT)
    return jsonify({"status": result.outcome})
