"""Build the events app."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from events.bp import editor, embed, embed_admin, public
from events.bp.fragments import fragments
from shared.config import Settings
from shared.infrastructure.factory import RoseQuart, create_base_app
from shared.services.registry import build_services

TEMPLATES = Path(__file__).resolve().parent / "templates"


def create_app(settings: Settings | None = None) -> RoseQuart:
    app = create_base_app(
        "events", settings=settings, template_dir=TEMPLATES, services=build_services
    )
    public_url = app.extensions["rose"].settings.apps["events"].public_url

    def absolute_url(path: str) -> str:
        return path if path.startswith(("http://", "https://")) else public_url + path

    app.jinja_env.globals["absolute_url"] = absolute_url
    app.jinja_env.filters["zoneinfo"] = ZoneInfo
    app.register_blueprint(public.bp)
    app.register_blueprint(editor.bp)
    app.register_blueprint(embed.bp)
    app.register_blueprint(embed_admin.bp)
    fragments.install(app)
    return app
