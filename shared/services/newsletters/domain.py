"""The newsletters' parts: lists, subscriptions, issues and their sending."""

from __future__ import annotations

from shared.config import Settings
from shared.services.domain import Domain, ServiceParts
from shared.services.newsletters.demo import seed_newsletters
from shared.services.newsletters.service import SqlNewsletterService
from shared.services.newsletters.stages import worker_stages


def build(settings: Settings, _built: ServiceParts) -> ServiceParts:
    return {"newsletters": SqlNewsletterService.from_settings(settings)}


DOMAIN = Domain(
    name="newsletters",
    build=build,
    worker_stages=worker_stages,
    demo_seeders=(seed_newsletters,),
)
