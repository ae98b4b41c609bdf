"""ActivityPub for every app: keys, HTTP Signatures, discovery, actors, inboxes, delivery.

``install(app)`` (called by ``create_base_app``) adds the routes; the outbox is written by
``shared.services.federation.service.publish`` and delivered by
``shared.services.federation.outbox``.
"""

from __future__ import annotations

from quart import Quart


def install(app: Quart) -> None:
    """Register the ActivityPub routes on ``app`` (imported late: the routes need the factory)."""
    from shared.infrastructure.activitypub.routes import install as install_routes

    install_routes(app)
