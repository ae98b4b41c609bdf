"""Build the blog app."""

from __future__ import annotations

from pathlib import Path

from blog.bp import archives, editor, embeds, feeds, ghost_urls, home, posts, webhooks
from blog.bp.fragments import fragments
from shared.config import Settings
from shared.infrastructure import cards, media
from shared.infrastructure.factory import RoseQuart, create_base_app
from shared.services.registry import build_services

TEMPLATES = Path(__file__).resolve().parent / "templates"


def create_app(settings: Settings | None = None) -> RoseQuart:
    app = create_base_app(
        "blog",
        settings=settings,
        template_dir=TEMPLATES,
        services=build_services,
        frame_src=cards.PLAYER_ORIGINS,
        # Ghost's video and audio cards (loaded only when the reader plays them), which may
        # stay on the Ghost site like any https image (img-src).
        media_src=("https:",),
    )
    public = app.extensions["rose"].settings.apps["blog"].public_url

    def absolute_url(path: str) -> str:
        """``path`` on the blog's public host; absolute URLs are kept as they are."""
        path = str(path)
        return path if path.startswith(("http://", "https://")) else public + path

    app.jinja_env.globals["absolute_url"] = absolute_url
    app.jinja_env.filters["product_cards"] = embeds.with_product_cards
    app.jinja_env.globals["article_ld"] = posts.article_ld
    for module in (home, posts, archives, feeds, webhooks, editor, ghost_urls):
        app.register_blueprint(module.bp)
    fragments.install(app)
    media.install(app, app.extensions["rose"].settings.media)
    return app
