"""The Mastodon API's instance endpoints on federation's host, which directories and apps read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import ApObjectDTO, FederationService
from shared.models import ApRemoteActor
from tests.identity.factories import make_member
from tests.support.settings import AppMaker


async def test_v1_and_v2_describe_the_instance_with_its_figures(
    make_app: AppMaker, settings: Settings, db: AsyncSession, federation: FederationService
) -> None:
    await make_member(db, "ash")
    await make_member(db, "bea")
    await make_member(db, "cy", verified=False)
    await federation.publish(db, "federation", "Create", ApObjectDTO({"type": "Note"}))
    await federation.publish(db, "blog", "Create", ApObjectDTO({"type": "Note"}))
    for uri in ("https://a.example/users/x", "https://a.example/users/y", "https://b.example/u/z"):
        db.add(ApRemoteActor(uri=uri, document={}, fetched_at=datetime.now(UTC)))
    await db.commit()
    configured = replace(
        settings,
        accounts=replace(settings.accounts, open_registrations=False),
        instance=replace(
            settings.instance,
            contact_email="hello@rose-ash.test",
            rules="Be kind.\n\n  No spam.  \n",
            languages="en, cy",
        ),
    )
    client = (await make_app("federation", app_settings=configured)).test_client()

    resp = await client.get("/api/v1/instance")
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    v1: dict[str, Any] = await resp.get_json()
    assert v1["uri"] == "127.0.0.1:8005"
    assert v1["title"] == settings.site_name
    assert v1["description"]
    assert v1["email"] == "hello@rose-ash.test"
    assert v1["version"].startswith("4.")  # apps read Mastodon's version first
    assert v1["stats"] == {"user_count": 2, "status_count": 1, "domain_count": 2}
    assert v1["registrations"] is False
    assert v1["languages"] == ["en", "cy"]
    assert [r["text"] for r in v1["rules"]] == ["Be kind.", "No spam."]
    assert v1["configuration"]["statuses"]["max_characters"] > 0
    assert v1["configuration"]["statuses"]["max_media_attachments"] == 4

    v2: dict[str, Any] = await (await client.get("/api/v2/instance")).get_json()
    assert v2["domain"] == "127.0.0.1:8005"
    assert v2["title"] == settings.site_name
    assert v2["usage"] == {"users": {"active_month": 0}}
    assert v2["registrations"]["enabled"] is False
    assert v2["contact"] == {"email": "hello@rose-ash.test", "account": None}
    assert [r["id"] for r in v2["rules"]] == ["1", "2"]
    assert v2["thumbnail"]["url"].startswith("http://127.0.0.1:8005/")
    assert "image/png" in v2["configuration"]["media_attachments"]["supported_mime_types"]
