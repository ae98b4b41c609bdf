"""Signed internal requests: only a fresh, untampered signature opens /internal/; anything else
is the very same 404 as a path that does not exist."""

from __future__ import annotations

import time

import pytest
from quart.typing import TestClientProtocol as Client

from shared.infrastructure import internal_auth
from shared.infrastructure.visitor import InvalidVisitor, Visitor
from tests.support.settings import TEST_INTERNAL_SECRET, AppMaker, make_settings

NAV = "/internal/fragments/nav"
MINI = "/internal/fragments/mini"
RID = "internal-auth-test-0001"


def signed(
    path: str,
    params: list[tuple[str, str]] | None = None,
    *,
    visitor: Visitor | None = None,
    method: str = "GET",
    secret: str = TEST_INTERNAL_SECRET,
    now: float | None = None,
) -> tuple[str, dict[str, str]]:
    query, headers = internal_auth.sign(secret, method, path, params or [], visitor, now=now)
    return (f"{path}?{query}" if query else path), {**headers, "X-Request-ID": RID}


async def not_found_body(client: Client) -> str:
    resp = await client.get("/no/such/page", headers={"X-Request-ID": RID})
    assert resp.status_code == 404
    return await resp.get_data(as_text=True)


async def test_a_signed_request_is_served(make_app: AppMaker) -> None:
    client = (await make_app("blog")).test_client()
    url, headers = signed(NAV, [("current", "blog")])
    resp = await client.get(url, headers=headers)
    assert resp.status_code == 200
    assert 'class="site-nav"' in await resp.get_data(as_text=True)


async def test_unsigned_requests_get_the_same_404_as_a_missing_page(make_app: AppMaker) -> None:
    client = (await make_app("blog")).test_client()
    missing = await not_found_body(client)
    for path in (NAV, "/internal/", "/internal", "//internal/fragments/nav", "/internal/nothing"):
        resp = await client.get(path, headers={"X-Request-ID": RID})
        assert resp.status_code == 404, path
        assert await resp.get_data(as_text=True) == missing, path
    # Not 405 for another method, nor a CSRF 400: nothing reveals that the route exists.
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "HEAD"):
        resp = await client.open(NAV, method=method, headers={"X-Request-ID": RID})
        assert resp.status_code == 404, method


@pytest.mark.parametrize(
    "case",
    [
        "wrong_secret",
        "too_late",
        "too_early",
        "tampered_query",
        "added_query",
        "dropped_query",
        "other_path",
        "other_method",
        "tampered_visitor",
        "garbage_signature",
        "missing_timestamp",
    ],
)
async def test_a_bad_signature_gets_the_same_404(make_app: AppMaker, case: str) -> None:
    client = (await make_app("cart")).test_client()
    missing = await not_found_body(client)
    now = time.time()
    params, method = [("a", "1")], "GET"
    url, headers = signed(MINI, params, visitor=Visitor(user_id=7))
    if case == "wrong_secret":
        url, headers = signed(
            MINI, params, visitor=Visitor(user_id=7), secret="another-secret-" * 3
        )
    elif case == "too_late":
        url, headers = signed(MINI, params, visitor=Visitor(user_id=7), now=now - 31)
    elif case == "too_early":
        url, headers = signed(MINI, params, visitor=Visitor(user_id=7), now=now + 31)
    elif case == "tampered_query":
        url = url.replace("a=1", "a=2")
    elif case == "added_query":
        url += "&b=2"
    elif case == "dropped_query":
        url = MINI
    elif case == "other_path":
        url = url.replace(MINI, "/internal/fragments/other")
    elif case == "other_method":
        method = "POST"
    elif case == "tampered_visitor":
        headers[internal_auth.VISITOR_HEADER] = "u:8"
    elif case == "garbage_signature":
        headers[internal_auth.SIGNATURE_HEADER] = "0" * 64
    elif case == "missing_timestamp":
        del headers[internal_auth.TIMESTAMP_HEADER]
    resp = await client.open(url, method=method, headers=headers)
    assert resp.status_code == 404
    assert await resp.get_data(as_text=True) == missing


async def test_the_untampered_request_of_those_cases_is_served(  # so each change alone fails
    make_app: AppMaker,
) -> None:
    client = (await make_app("cart")).test_client()
    for offset in (-29, 0, 29):  # inside the clock window either way
        url, headers = signed(
            MINI, [("a", "1")], visitor=Visitor(user_id=7), now=time.time() + offset
        )
        assert (await client.get(url, headers=headers)).status_code == 200


async def test_without_a_configured_secret_nothing_internal_is_served(
    make_app: AppMaker, database_url: str, redis_url: str
) -> None:
    no_secret = make_settings(database_url, redis_url, ROSE_INTERNAL_SECRET="")
    client = (await make_app("blog", app_settings=no_secret)).test_client()
    url, headers = signed(NAV)
    assert (await client.get(url, headers=headers)).status_code == 404


def test_the_query_is_signed_in_canonical_order() -> None:
    now = 1_800_000_000
    _, one = internal_auth.sign("s" * 40, "GET", NAV, [("b", "2"), ("a", "x y")], now=now)
    _, two = internal_auth.sign("s" * 40, "GET", NAV, [("a", "x y"), ("b", "2")], now=now)
    assert one == two
    for raw in ("b=2&a=x%20y", "a=x+y&b=2"):
        visitor = internal_auth.verify(
            "s" * 40, "GET", NAV, raw.encode(), one, window_s=30, now=now
        )
        assert visitor == Visitor()


@pytest.mark.parametrize(
    ("header", "visitor"),
    [
        ("-", Visitor()),
        ("u:42", Visitor(user_id=42)),
        ("c:" + "k" * 24, Visitor(cart_key="k" * 24)),
    ],
)
def test_visitor_header_round_trip(header: str, visitor: Visitor) -> None:
    assert Visitor.from_header(header) == visitor
    assert visitor.header() == header


@pytest.mark.parametrize(
    "header", ["", "u:", "u:0", "u:-1", "u:01", "u:x", "c:short", "x:1", "u:٣"]
)
def test_malformed_visitors_are_refused(header: str) -> None:
    with pytest.raises(InvalidVisitor):
        Visitor.from_header(header)


def test_a_cart_key_never_appears_in_a_cache_scope() -> None:
    key = "secret-cart-key-0123456789"
    assert key not in Visitor(cart_key=key).scope()
    assert Visitor(user_id=5).scope() == "u5"
    with pytest.raises(InvalidVisitor):
        Visitor(user_id=5, cart_key=key)
