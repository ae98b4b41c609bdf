"""Federation's parts: the app actors, the inbox and the outbox (ActivityPub).

Its OutboxProcessor (outbox.py) is the loop of ``rose-ash worker`` itself: the other domains'
stages run in each of its cycles.
"""

from __future__ import annotations

from shared.config import Settings
from shared.services.domain import Domain, Lazy, ServiceParts
from shared.services.federation.service import SqlFederationService


def build(settings: Settings, built: ServiceParts) -> ServiceParts:
    # Members' actors (the social hub) receive through the same inbox as the app actors.
    return {"federation": SqlFederationService(settings, social=built["social"])}


DOMAIN = Domain(
    name="federation",
    build=build,
    commands=Lazy("shared.services.federation.commands:add_commands"),
)
