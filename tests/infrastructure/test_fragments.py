"""Fragment declarations: the policy meta-test, and what a provider promises its consumers."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from quart import Quart
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import APP_NAMES, Settings
from shared.db import commit
from shared.infrastructure import internal_auth
from shared.infrastructure.factory import create_base_app
from shared.infrastructure.fragments import (
    FragmentRef,
    FragmentRequest,
    FragmentSet,
    invalidate_after_commit,
    is_fragment_view,
    provided_fragments,
)
from shared.infrastructure.visitor import Visitor
from shared.models import NavItem
from shared.services.registry import build_services
from tests.support.settings import TEST_INTERNAL_SECRET, AppMaker

# What the header needs; the meta-test below also proves each of them is really served.
HEADER = {
    "blog/nav": False,
    "cart/mini": True,
    "account/menu": True,
    "federation/notifications": True,
}


def undeclared_internal_routes(app: Quart) -> list[str]:
    return [
        rule.rule
        for rule in app.url_map.iter_rules()
        if internal_auth.is_internal_path(rule.rule)
        and not is_fragment_view(app.view_functions[rule.endpoint])
    ]


@pytest.mark.parametrize("name", APP_NAMES)
async def test_every_fragment_declares_its_ttl_and_user_variance_and_serves_them(
    make_app: AppMaker, name: str
) -> None:
    """Policy: every /internal/ route is a declared fragment, and its answer carries its
    declared TTL (Cache-Control) and user-variance (Vary) to the consumers."""
    app = await make_app(name)
    assert undeclared_internal_routes(app) == []
    provided = provided_fragments(app)
    if provided is None:
        assert not any(internal_auth.is_internal_path(r.rule) for r in app.url_map.iter_rules())
        return
    assert provided.specs, f"{name} installs fragments but declares none"
    client = app.test_client()
    for spec in provided.specs.values():
        assert type(spec.ttl_s) is int, spec.id
        assert spec.ttl_s >= 0, spec.id
        assert isinstance(spec.per_user, bool), spec.id
        path = f"/internal/fragments/{spec.type}"
        _query, headers = internal_auth.sign(
            TEST_INTERNAL_SECRET, "GET", path, [], Visitor(user_id=1)
        )
        resp = await client.get(path, headers=headers)
        assert resp.status_code == 200, spec.id
        assert resp.headers["Cache-Control"] == f"max-age={spec.ttl_s}", spec.id
        varies = internal_auth.VISITOR_HEADER in resp.headers.get("Vary", "")
        assert varies == spec.per_user, spec.id
        assert "set-cookie" not in resp.headers, f"{spec.id} must not touch the session"


async def test_the_header_fragments_exist_with_the_expected_variance(make_app: AppMaker) -> None:
    for fragment_id, per_user in HEADER.items():
        app_name, _, type_ = fragment_id.partition("/")
        provided = provided_fragments(await make_app(app_name))
        assert provided is not None
        assert provided.specs[type_].per_user is per_user


def test_a_declaration_without_ttl_or_variance_is_refused() -> None:
    fragments = FragmentSet("events")

    async def handler(req: FragmentRequest) -> str:
        return ""

    with pytest.raises(TypeError):
        fragments.fragment("upcoming", per_user=False)(handler)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        fragments.fragment("upcoming", ttl_s=60)(handler)  # type: ignore[call-arg]
    for bad in (
        {"ttl_s": -1, "per_user": False},
        {"ttl_s": True, "per_user": False},
        {"ttl_s": 1.5, "per_user": False},
        {"ttl_s": 60, "per_user": None},
    ):
        with pytest.raises(ValueError, match="upcoming"):
            fragments.fragment("upcoming", **bad)(handler)
    with pytest.raises(ValueError, match="must match"):
        fragments.fragment("Up/coming", ttl_s=60, per_user=False)
    fragments.fragment("upcoming", ttl_s=60, per_user=False)(handler)
    with pytest.raises(ValueError, match="twice"):
        fragments.fragment("upcoming", ttl_s=60, per_user=False)


def test_an_undeclared_internal_route_fails_the_meta_check() -> None:
    """The meta-test's check recognises a route added around the API (so it can fail)."""
    app = Quart("market")
    FragmentSet("market").install(app)
    assert undeclared_internal_routes(app) == []

    @app.get("/internal/debug")
    async def sneaky() -> str:
        return ""

    assert undeclared_internal_routes(app) == ["/internal/debug"]


async def test_a_fragment_that_does_not_vary_per_user_never_sees_the_visitor(
    settings: Settings,
) -> None:
    """A copy shared by everyone is rendered anonymously, whoever the signed visitor is."""
    # The bare platform app (every real app now provides fragments of its own).
    app = create_base_app("federation", settings=settings, services=build_services)
    fragments = FragmentSet("federation")

    @fragments.fragment("who-shared", ttl_s=60, per_user=False)
    async def shared(req: FragmentRequest) -> str:
        return req.visitor.header()

    @fragments.fragment("who-personal", ttl_s=60, per_user=True)
    async def personal(req: FragmentRequest) -> str:
        return req.visitor.header() + "|" + ",".join(f"{k}={v}" for k, v in req.args.items())

    fragments.install(app)
    client = app.test_client()
    for type_, expected in (("who-shared", "-"), ("who-personal", "u:42|x=1")):
        path = f"/internal/fragments/{type_}"
        query, headers = internal_auth.sign(
            TEST_INTERNAL_SECRET, "GET", path, [("x", "1")], Visitor(user_id=42)
        )
        resp = await client.get(f"{path}?{query}", headers=headers)
        assert await resp.get_data(as_text=True) == expected


def test_fragment_refs() -> None:
    ref = FragmentRef.of("blog/nav", current="market")
    assert (ref.id, ref.slot, ref.args) == ("blog/nav", "blog/nav", (("current", "market"),))
    assert FragmentRef.of("market/product-card", name="card-1", id="1").slot == "card-1"
    with pytest.raises(ValueError, match="not a fragment"):
        FragmentRef.of("shop/nav")
    with pytest.raises(ValueError, match="not a fragment"):
        FragmentRef.of("blog/../nav")


async def test_invalidation_waits_for_the_commit_outside_a_request(
    make_app: AppMaker, db: AsyncSession, redis: aioredis.Redis
) -> None:
    app = await make_app("blog")
    async with app.app_context():
        invalidate_after_commit(db, "blog/nav")
        invalidate_after_commit(db, "cart/mini", Visitor(user_id=3))
        await db.flush()
        assert await redis.get("rose:fragver:blog/nav") is None
        await commit(db)
    assert await redis.get("rose:fragver:blog/nav") == b"1"
    assert await redis.get("rose:fragver:cart/mini:u3") == b"1"
    assert await redis.ttl("rose:fragver:cart/mini:u3") > 0
    with pytest.raises(RuntimeError, match="app context"):
        invalidate_after_commit(db, "blog/nav")


async def test_a_rolled_back_change_invalidates_nothing(
    make_app: AppMaker, db: AsyncSession, redis: aioredis.Redis
) -> None:
    app = await make_app("blog")
    async with app.app_context():
        db.add(NavItem(label="Never", app="blog", path="/never"))
        invalidate_after_commit(db, "blog/nav")
        await db.flush()
        await db.rollback()
        await commit(db)
    assert await redis.get("rose:fragver:blog/nav") is None
