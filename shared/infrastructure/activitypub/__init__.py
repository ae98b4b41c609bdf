"""ActivityPub for every app: keys, HTTP Signatures, discovery, actors, inboxes, delivery.

``routes.install(app)`` (called by ``create_base_app``) adds the routes; the outbox is written by
``shared.services.federation.service.publish`` and delivered by
``shared.services.federation.outbox``.
"""
