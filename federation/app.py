"""Build the federation app: accounts, sign-in, and the OpenID Connect provider."""

from __future__ import annotations

from pathlib import Path

from federation.bp import accounts, admin, instance, moving, oauth, social
from federation.bp.fragments import fragments
from shared.config import Settings
from shared.infrastructure import media
from shared.infrastructure.context import services
from shared.infrastructure.factory import RoseQuart, create_base_app
from shared.services.identity.oidc import Provider
from shared.services.registry import build_services

TEMPLATES = Path(__file__).resolve().parent / "templates"


def create_app(settings: Settings | None = None) -> RoseQuart:
    app = create_base_app(
        "federation", settings=settings, template_dir=TEMPLATES, services=build_services
    )
    app.extensions["oidc_provider"] = Provider(app.extensions["rose"].settings)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(social.bp)
    app.register_blueprint(moving.bp)
    app.register_blueprint(instance.bp)
    fragments.install(app)
    # The social hub's uploads: post images, avatars and headers (shared/infrastructure/media.py).
    media.install(app, app.extensions["rose"].settings.media)

    @app.before_serving
    async def _warm_up() -> None:
        # The first "no such account" must not be the slow one (a timing tell).
        await services().identity.warm_up()

    return app
