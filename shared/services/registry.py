"""The domains, in one place, and the services built from them.

:data:`DOMAINS` is the one list of the domains (each declares itself in
``shared/services/<domain>/domain.py``, see :mod:`shared.services.domain`). Its order is the
order they are built in, each from what the domains before it built: social before federation
(members' actors receive through federation's inbox), federation before blog and events (they
publish through it), the market's catalogue and events before the cart (it sells what they
offer). Worker stages, commands and demo seeders are collected in the same order.

Nothing here is wired on first use. An app installs its set at start-up
(``create_base_app(name, services=build_services)``); the worker, the CLI and the tests install
the process's with ``shared.infrastructure.context.use_services(build_services(settings))``.
Code reaches them through ``shared.infrastructure.context.services()``, typed by the protocols
(:class:`shared.contracts.Services`), so mypy checks every implementation where it is built and
tests/contracts/test_contracts.py checks it again at run time.
"""

from __future__ import annotations

from shared.config import Settings, load_settings
from shared.contracts.services import Services
from shared.contracts.widgets import WidgetType
from shared.services.blog.domain import DOMAIN as BLOG
from shared.services.cart.domain import DOMAIN as CART
from shared.services.domain import Domain, ServiceParts
from shared.services.events.domain import DOMAIN as EVENTS
from shared.services.federation.domain import DOMAIN as FEDERATION
from shared.services.identity.domain import DOMAIN as IDENTITY
from shared.services.market.domain import DOMAIN as MARKET
from shared.services.newsletters.domain import DOMAIN as NEWSLETTERS
from shared.services.social.domain import DOMAIN as SOCIAL

# Identity first: the demo's other seeders need its members.
DOMAINS: tuple[Domain, ...] = (
    IDENTITY,
    SOCIAL,
    FEDERATION,
    BLOG,
    MARKET,
    EVENTS,
    CART,
    NEWSLETTERS,
)

# Every widget an app provides (each domain declares its own), by type.
WIDGETS: dict[str, WidgetType] = {w.type: w for d in DOMAINS for w in d.widgets}


def build_services(settings: Settings | None = None) -> Services:
    """The implementations, configured by ``settings`` (the environment's when None)."""
    settings = settings or load_settings()
    parts: ServiceParts = {}
    for domain in DOMAINS:
        parts.update(domain.build(settings, parts))
    return Services(**parts)
