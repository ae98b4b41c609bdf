"""The social hub's parts: members' fediverse accounts, follows, timelines and posts."""

from __future__ import annotations

from shared.config import Settings
from shared.services.domain import Domain, Lazy, ServiceParts
from shared.services.social.service import SqlSocialService


def build(settings: Settings, _built: ServiceParts) -> ServiceParts:
    return {"social": SqlSocialService(settings)}


DOMAIN = Domain(
    name="social",
    build=build,
    worker_stages=Lazy("shared.services.social.stages:worker_stages"),
    demo_seeders=(Lazy("shared.services.social.demo:seed_social"),),
)
