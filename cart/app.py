"""Build the cart app: the cart page, checkout, orders, SumUp's webhook, staff's orders."""

from __future__ import annotations

from pathlib import Path

from cart.bp import admin, basket, checkout, orders, webhooks
from cart.bp.fragments import fragments
from shared.config import Settings
from shared.infrastructure.factory import RoseQuart, create_base_app
from shared.services.cart.sumup import hosted_checkout_origins
from shared.services.registry import build_services

TEMPLATES = Path(__file__).resolve().parent / "templates"


def create_app(settings: Settings | None = None) -> RoseQuart:
    app = create_base_app(
        "cart",
        settings=settings,
        template_dir=TEMPLATES,
        services=build_services,
        # "Place order and pay" leads to SumUp's hosted checkout page.
        form_action=hosted_checkout_origins,
    )
    for blueprint in (basket.bp, checkout.bp, orders.bp, webhooks.bp, admin.bp):
        app.register_blueprint(blueprint)
    fragments.install(app)
    return app
