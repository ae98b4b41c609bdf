"""Build the market app."""

from __future__ import annotations

from pathlib import Path

from market.bp import catalogue, editor, home, scrape_admin, units
from market.bp.fragments import fragments
from shared.config import Settings
from shared.infrastructure.factory import RoseQuart, create_base_app
from shared.infrastructure.sanitize import without_widgets
from shared.services.registry import build_services

TEMPLATES = Path(__file__).resolve().parent / "templates"


def create_app(settings: Settings | None = None) -> RoseQuart:
    app = create_base_app(
        "market", settings=settings, template_dir=TEMPLATES, services=build_services
    )
    public = app.extensions["rose"].settings.apps["market"].public_url

    def absolute_url(path: str) -> str:
        """``path`` on the market's public host; absolute URLs are kept as they are."""
        path = str(path)
        return path if path.startswith(("http://", "https://")) else public + path

    app.jinja_env.globals["absolute_url"] = absolute_url
    app.jinja_env.filters["sold_as"] = units.sold_as
    app.jinja_env.filters["widgets"] = catalogue.intro_with_widgets
    app.jinja_env.filters["without_widgets"] = without_widgets
    for module in (home, catalogue, editor):
        app.register_blueprint(module.bp)
    fragments.install(app)
    # Staff: importing supplier catalogues (/editor/scrape).
    app.register_blueprint(scrape_admin.bp)
    return app
