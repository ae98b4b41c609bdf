"""The Ghost stand-in speaks the documented contract (so tests against it mean something)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.services.blog.ghost import verify_webhook
from tests.standins.ghost import GhostStandIn


@pytest.fixture
async def ghost() -> AsyncIterator[GhostStandIn]:
    standin = GhostStandIn()
    await standin.start()
    yield standin
    await standin.stop()


async def _get(ghost: GhostStandIn, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=ghost.url + "/ghost/api/content") as client:
        return await client.get(path, params=params)


async def test_key_errors_have_ghosts_shapes(ghost: GhostStandIn) -> None:
    assert len(ghost.content_key) == 26
    resp = await _get(ghost, "/posts/")
    assert resp.status_code == 403
    assert resp.json()["errors"][0]["type"] == "NoPermissionError"
    resp = await _get(ghost, "/posts/", key="0" * 26)
    assert resp.status_code == 401
    error = resp.json()["errors"][0]
    assert (error["type"], error["code"]) == ("UnauthorizedError", "UNKNOWN_CONTENT_API_KEY")
    assert set(error) >= {"message", "context", "type", "code", "id"}
    resp = await _get(ghost, "/posts/" + "a" * 24 + "/", key=ghost.content_key)
    assert resp.status_code == 404
    assert resp.json()["errors"][0]["type"] == "NotFoundError"


async def test_pagination_limit_default_and_cap(ghost: GhostStandIn) -> None:
    for i in range(120):
        ghost.add_post(f"Post {i}")
    body = (await _get(ghost, "/posts/", key=ghost.content_key)).json()
    assert len(body["posts"]) == 15
    assert body["meta"]["pagination"] == {
        "page": 1, "limit": 15, "pages": 8, "total": 120, "next": 2, "prev": None,
    }  # fmt: skip
    for limit in ("500", "all"):
        body = (await _get(ghost, "/posts/", key=ghost.content_key, limit=limit)).json()
        assert body["meta"]["pagination"]["limit"] == 100
        assert len(body["posts"]) == 100
    body = (await _get(ghost, "/posts/", key=ghost.content_key, limit="100", page="2")).json()
    assert len(body["posts"]) == 20
    assert body["meta"]["pagination"]["next"] is None
    assert body["meta"]["pagination"]["prev"] == 1


async def test_filter_dates_work_only_in_ghosts_format(ghost: GhostStandIn) -> None:
    first = ghost.add_post("First")
    second = ghost.add_post("Second")
    since = second["updated_at"][:19].replace("T", " ")
    key = ghost.content_key
    body = (await _get(ghost, "/posts/", key=key, filter=f"updated_at:>='{since}'")).json()
    assert [p["id"] for p in body["posts"]] == [second["id"]]
    iso = second["updated_at"][:19] + "Z"
    body = (await _get(ghost, "/posts/", key=key, filter=f"updated_at:>='{iso}'")).json()
    assert body["posts"] == []
    body = (await _get(ghost, "/posts/", key=key, order="updated_at asc,id asc")).json()
    assert [p["id"] for p in body["posts"]] == [first["id"], second["id"]]
    assert first["updated_at"].endswith(".000+00:00")


async def test_single_reads_fields_includes_members_and_internal_tags(
    ghost: GhostStandIn,
) -> None:
    public = ghost.add_tag("News")
    internal = ghost.add_tag("#wide")
    author = ghost.add_author("Rosa")
    post = ghost.add_post(
        "Members",
        html="<p>Teaser</p><!--members-only--><p>Secret</p>",
        visibility="members",
        tags=[internal, public],
        authors=[author],
    )
    key = ghost.content_key
    body = (await _get(ghost, f"/posts/{post['id']}/", key=key, include="tags,authors")).json()
    assert "meta" not in body
    (item,) = body["posts"]
    assert item["html"] == "<p>Teaser</p>"
    assert item["access"] is False
    assert [t["slug"] for t in item["tags"]] == ["hash-wide", "news"]
    assert item["tags"][0]["visibility"] == "internal"
    assert item["primary_tag"]["slug"] == "news"
    assert item["primary_author"]["name"] == "Rosa"
    body = (await _get(ghost, "/posts/slug/members/", key=key, fields="id,updated_at")).json()
    assert set(body["posts"][0]) == {"id", "updated_at"}
    tags = (await _get(ghost, "/tags/", key=key)).json()["tags"]
    assert [t["slug"] for t in tags] == ["news"]
    settings = (await _get(ghost, "/settings/", key=key)).json()["settings"]
    assert settings["navigation"][0] == {"label": "Home", "url": "/"}


async def test_injected_failures(ghost: GhostStandIn) -> None:
    ghost.fail(500)
    ghost.fail("malformed")
    key = ghost.content_key
    assert (await _get(ghost, "/posts/", key=key)).status_code == 500
    resp = await _get(ghost, "/posts/", key=key)
    assert resp.status_code == 200
    with pytest.raises(ValueError, match="Expecting"):
        resp.json()
    assert (await _get(ghost, "/posts/", key=key)).status_code == 200


def test_webhooks_are_signed_like_ghost(ghost: GhostStandIn) -> None:
    body, headers = ghost.webhook("post.deleted", "s3cret", previous={"id": "a" * 24})
    assert body == b'{"post":{"current":{},"previous":{"id":"' + b"a" * 24 + b'"}}}'
    signature = headers["X-Ghost-Signature"]
    assert signature.startswith("sha256=")
    assert ", t=" in signature
    verify_webhook("s3cret", body, signature, window_s=300)
