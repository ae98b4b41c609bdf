"""The newsletters' parts: lists, subscriptions, issues and their sending."""

from __future__ import annotations

from shared.config import Settings
from shared.services.domain import Domain, Lazy, ServiceParts
from shared.services.newsletters.service import SqlNewsletterService


def build(settings: Settings, _built: ServiceParts) -> ServiceParts:
    return {"newsletters": SqlNewsletterService.from_settings(settings)}


DOMAIN = Domain(
    name="newsletters",
    build=build,
    worker_stages=Lazy("shared.services.newsletters.stages:worker_stages"),
    demo_seeders=(Lazy("shared.services.newsletters.demo:seed_newsletters"),),
)
