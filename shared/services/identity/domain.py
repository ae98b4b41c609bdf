"""The identity domain's parts: accounts, sign-in and the OIDC provider's storage; its worker
stage sends back-channel logout tokens to registered tools."""

from __future__ import annotations

from shared.config import Settings
from shared.services.domain import Domain, Lazy, ServiceParts
from shared.services.identity.service import SqlIdentityService


def build(settings: Settings, _built: ServiceParts) -> ServiceParts:
    return {"identity": SqlIdentityService.from_settings(settings)}


DOMAIN = Domain(
    name="identity",
    build=build,
    commands=Lazy("shared.services.identity.commands:add_commands"),
    worker_stages=Lazy("shared.services.identity.stages:worker_stages"),
    demo_seeders=(Lazy("shared.services.identity.demo:seed_identity"),),
)
