"""Journey 6, the fediverse: a member finds the account of a fediverse server running on this
machine (the independent Fedify peer of the interop tests) by its handle, follows it, and
sees its post arrive in the home timeline; then writes a post that the peer receives.

Everything in between is real: WebFinger and the actor fetched through the address guard,
the Follow signed with the member's own key and delivered by `rose-ash up`'s worker, the
peer's Accept and post verified by the federation inbox.
"""

from __future__ import annotations

import io
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from playwright.async_api import Page, expect

from tests.e2e.conftest import Site
from tests.interop import conftest as interop
from tests.support import eventually

# The interop peer and what it needs (its npm install, the test CA it trusts).
peer = interop.peer
peer_installed = interop.peer_installed
tls = interop.tls

PASSWORD = "a journey across the fediverse " + secrets.token_hex(4)


async def sign_in(site: Site, page: Page, username: str, path: str) -> None:
    await site.cli("user", "set-password", username, "--password", PASSWORD)
    await page.goto(site.url("federation", path))
    await page.wait_for_url(re.compile(re.escape(site.url("federation", "/signin")) + r"\?"))
    await page.get_by_label("Email address or username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(site.url("federation", path))


async def received(peer: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as client:
        return list((await client.get(f"{peer.origin}/control/received")).json())


async def test_journey_6_follow_the_local_peer_and_see_its_post(
    site: Site, page: Page, peer: Any, tmp_path: Path
) -> None:
    peer_host = peer.origin.split("://", 1)[1]
    await sign_in(site, page, "alice", "/social")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Home")

    # Find the peer's account by its handle and follow it.
    search = page.get_by_role("search")
    await search.get_by_label("Find an account").fill(f"@peer@{peer_host}")
    await search.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Interop peer")
    await expect(page.get_by_text(f"@peer@{peer_host}").first).to_be_visible()
    await page.get_by_role("button", name="Follow").click()
    # The Follow is recorded (the box answers in place) before the page is ever reloaded: a
    # reload while its request is in flight would cancel it.
    await expect(page.locator("[data-follow-state]")).to_be_visible()

    # The worker delivers the Follow; the peer accepts; the page then says so.
    following = page.locator('[data-follow-state="accepted"]')

    async def accepted() -> bool:
        if await following.count():
            return True
        await page.reload()
        return False

    await eventually(accepted, "the page says the Follow was accepted", every_s=0.5)
    await expect(following).to_be_visible()

    # The peer posts to its followers: the post shows in Alice's home timeline.
    words = f"Greetings from the peer {secrets.token_hex(3)}"
    async with httpx.AsyncClient(timeout=30) as client:
        resp = await client.post(f"{peer.origin}/control/post", json={"content": f"<p>{words}</p>"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["recipients"] == 1
    await page.goto(site.url("federation", "/social"))
    timeline = page.get_by_role("region", name="Home timeline")

    async def shown() -> bool:
        if await timeline.get_by_text(words).count():
            return True
        await page.reload()
        return False

    await eventually(shown, "the peer's post in the home timeline", every_s=0.5)
    await expect(timeline.get_by_text(words)).to_be_visible()
    await expect(timeline.get_by_text(f"@peer@{peer_host}").first).to_be_visible()

    # Alice mentions the peer in a post of her own: the peer receives it, signed by her.
    mine = f"Hello @peer@{peer_host}, welcome to the co-op {secrets.token_hex(3)}"
    await page.get_by_label("What's happening?").fill(mine)
    await page.get_by_role("button", name="Post", exact=True).click()
    await expect(timeline.get_by_text("welcome to the co-op")).to_be_visible()

    async def creates() -> list[dict[str, Any]]:
        return [a for a in await received(peer) if a["type"] == "Create"]

    await eventually(creates, "the peer received Alice's post", every_s=0.5)
    created = await creates()
    assert created[0]["actor"] == site.url("federation", "/users/alice")
    assert "welcome to the co-op" in str(created[0]["json"]["object"]["content"])

    # A post with an image and its alt text: the peer reads it as a Document attachment.
    photo = tmp_path / "loaves.png"
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (190, 140, 60)).save(out, "PNG")
    photo.write_bytes(out.getvalue())
    # (It mentions the peer: the peer follows nobody here, so only a mention reaches it.)
    await page.get_by_label("What's happening?").fill(f"Fresh from the oven @peer@{peer_host}")
    await page.get_by_label("Image 1", exact=True).set_input_files(photo)
    await page.get_by_label("Description of image 1 (alt text)").fill("Two loaves cooling")
    await page.get_by_role("button", name="Post", exact=True).click()
    await expect(timeline.get_by_role("img", name="Two loaves cooling")).to_be_visible()

    async def creates_with_image() -> list[dict[str, Any]]:
        return [
            a
            for a in await received(peer)
            if a["type"] == "Create" and "Fresh from the oven" in str(a["json"]["object"])
        ]

    await eventually(creates_with_image, "the peer received the post with the image", every_s=0.5)
    with_image = await creates_with_image()
    attachment = with_image[0]["json"]["object"]["attachment"]
    first = attachment[0] if isinstance(attachment, list) else attachment
    assert first["type"] == "Document"
    assert first["mediaType"] == "image/png"
    assert first["name"] == "Two loaves cooling"
    assert str(first["url"]).startswith(site.url("federation", "/media/images/"))
