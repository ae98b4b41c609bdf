"""Build the account app."""

from __future__ import annotations

from pathlib import Path

from account.bp import dashboard, home, newsletters, orders, staff, tickets
from account.bp.fragments import fragments
from shared.config import Settings
from shared.infrastructure.factory import RoseQuart, create_base_app
from shared.infrastructure.widgets import widget_box
from shared.services.registry import build_services

TEMPLATES = Path(__file__).resolve().parent / "templates"


def create_app(settings: Settings | None = None) -> RoseQuart:
    app = create_base_app(
        "account", settings=settings, template_dir=TEMPLATES, services=build_services
    )
    app.jinja_env.globals["widget_box"] = widget_box
    app.register_blueprint(home.bp)
    app.register_blueprint(newsletters.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(orders.bp)
    app.register_blueprint(tickets.bp)
    fragments.install(app)
    return app
