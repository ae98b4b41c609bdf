"""The blog's parts: posts and pages, their Ghost sync, and the scheduled publishing."""

from __future__ import annotations

from shared.config import Settings
from shared.contracts.widgets import WidgetParam, WidgetType
from shared.services.blog.service import SqlBlogService
from shared.services.domain import Domain, Lazy, ServiceParts


def build(settings: Settings, built: ServiceParts) -> ServiceParts:
    # The blog announces its posts through federation, in the same transaction.
    blog = SqlBlogService(
        built["federation"],
        settings.apps["blog"].public_url,
        settings.apps["market"].public_url,
        settings.apps["events"].public_url,
        settings.media,
    )
    return {"blog": blog}


# The blog's widget (its fragment, blog/bp/fragments): the latest posts, of one tag or all.
WIDGETS = (
    WidgetType(
        "blog/latest",
        "Latest posts",
        "blog/latest",
        (WidgetParam("tag", "tag"), WidgetParam("count", "count")),
    ),
)

DOMAIN = Domain(
    name="blog",
    build=build,
    worker_stages=Lazy("shared.services.blog.stages:worker_stages"),
    commands=Lazy("shared.services.blog.commands:add_commands"),
    demo_seeders=(Lazy("shared.services.blog.demo:seed_blog"),),
    widgets=WIDGETS,
)
