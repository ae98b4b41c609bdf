"""The blog's parts: posts and pages, their Ghost sync, and the scheduled publishing."""

from __future__ import annotations

from shared.config import Settings
from shared.services.blog.commands import add_commands
from shared.services.blog.demo import seed_blog
from shared.services.blog.service import SqlBlogService
from shared.services.blog.stages import worker_stages
from shared.services.domain import Domain, ServiceParts


def build(settings: Settings, built: ServiceParts) -> ServiceParts:
    # The blog announces its posts through federation, in the same transaction.
    blog = SqlBlogService(
        built["federation"], settings.apps["blog"].public_url, settings.apps["market"].public_url
    )
    return {"blog": blog}


DOMAIN = Domain(
    name="blog",
    build=build,
    worker_stages=worker_stages,
    commands=add_commands,
    demo_seeders=(seed_blog,),
)
