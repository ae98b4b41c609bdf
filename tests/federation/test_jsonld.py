"""What we send survives JSON-LD processing (issue #20, item 2).

Every document is expanded by PyLD as a strict server would (Fedify's: Ghost's ActivityPub,
Hollo), offline: our context names only the ActivityStreams and security contexts and defines
Mastodon's and Mobilizon's terms inline. Nothing may be dropped, and each field a server reads
(hashtags with their pages, the event's time zone, address, join mode and image, a post's
sensitive flag and content warning, a member's discoverable, locked and profile fields, its
aliases and where it moved) is found under the IRI Mastodon and Mobilizon give it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.contracts import (
    ArticleDTO,
    ComposeInput,
    EventInput,
    FederationService,
    HashtagDTO,
    SocialProfileInput,
)
from shared.infrastructure.activitypub.actors import actor_document
from shared.models import ApActivity
from shared.services.registry import build_services
from tests.events import factories
from tests.identity.factories import make_member
from tests.support.jsonld import AS, MZ, SCHEMA, TOOT, expand, one, values


def hashtags(node: dict[str, Any]) -> dict[str, str]:
    """The expanded node's Hashtags: name -> href."""
    return {
        one(t, f"{AS}name"): one(t, f"{AS}href")
        for t in node.get(f"{AS}tag", [])
        if f"{AS}Hashtag" in t.get("@type", [])
    }


async def test_a_blog_article_keeps_its_hashtags_and_their_pages(
    db: AsyncSession, federation: FederationService
) -> None:
    article = federation.article(
        "blog",
        ArticleDTO(
            id=federation.new_object_uri("blog"),
            name="Harvest supper",
            summary="With the growers.",
            content="<p>Come and eat.</p>",
            url="http://127.0.0.1:8001/posts/harvest-supper",
            published=datetime(2026, 11, 20, 18, 0, tzinfo=UTC),
            tags=(HashtagDTO("Food and drink", "http://127.0.0.1:8001/tag/food-and-drink"),),
        ),
    )
    activity = await federation.publish(db, "blog", "Create", article)
    node, dropped = expand(dict(activity.payload))
    assert dropped == []
    [obj] = node[f"{AS}object"]
    assert obj["@type"] == [f"{AS}Article"]
    # Mastodon refuses a tag name with spaces: the name is one CamelCase word, the page the tag's.
    assert hashtags(obj) == {"#FoodAndDrink": "http://127.0.0.1:8001/tag/food-and-drink"}


async def test_an_event_keeps_time_zone_address_join_mode_tags_and_image(
    db: AsyncSession, settings: Settings
) -> None:
    events = build_services(settings).events
    calendar = await factories.calendar(db)
    await events.save_event(
        db,
        EventInput(
            calendar_id=calendar.id,
            title="Seed swap",
            timezone="Europe/Lisbon",
            start_local=datetime(2026, 12, 1, 18),
            end_local=datetime(2026, 12, 1, 20),
            location_name="The Café",
            location_address="12 Rose Lane, Lisbon",
            image_url="https://images.example/seeds.png",
            capacity=40,
            tags=("garden",),
            status="published",
        ),
    )
    payload = await db.scalar(select(ApActivity.payload).where(ApActivity.actor_app == "events"))
    assert payload is not None
    node, dropped = expand(payload)
    assert dropped == []
    [event] = node[f"{AS}object"]
    assert event["@type"] == [f"{AS}Event"]
    assert one(event, f"{MZ}timezone") == "Europe/Lisbon"
    assert one(event, f"{MZ}joinMode") == "external"
    assert one(event, f"{SCHEMA}maximumAttendeeCapacity") == 40
    [place] = event[f"{AS}location"]
    assert one(place, f"{AS}name") == "The Café"
    [address] = place[f"{SCHEMA}address"]
    assert address["@type"] == [f"{SCHEMA}PostalAddress"]
    assert one(address, f"{SCHEMA}streetAddress") == "12 Rose Lane, Lisbon"
    events_url = settings.apps["events"].public_url
    assert hashtags(event) == {"#garden": f"{events_url}/?tag=garden"}
    [image] = event[f"{AS}image"]
    assert one(image, f"{AS}url") == "https://images.example/seeds.png"
    [picture] = event[f"{AS}attachment"]
    assert one(picture, f"{AS}url") == "https://images.example/seeds.png"
    assert one(picture, f"{AS}mediaType") == "image/png"


async def test_an_event_without_an_image_still_has_an_attachment_array(
    db: AsyncSession, settings: Settings
) -> None:
    """Gancio refuses an Event (its 500) whose ``attachment`` is missing (item 15)."""
    events = build_services(settings).events
    calendar = await factories.calendar(db)
    await events.save_event(
        db,
        EventInput(
            calendar_id=calendar.id,
            title="Plain",
            timezone="Europe/London",
            start_local=datetime(2026, 12, 1, 18),
            end_local=datetime(2026, 12, 1, 20),
            status="published",
        ),
    )
    payload = await db.scalar(select(ApActivity.payload).where(ApActivity.actor_app == "events"))
    assert payload is not None
    assert payload["object"]["attachment"] == []
    assert "image" not in payload["object"]


async def test_an_occurrence_of_a_recurring_event_keeps_its_series(
    db: AsyncSession, settings: Settings
) -> None:
    """Each occurrence is its own Event naming its series (schema.org's superEvent)."""
    events = build_services(settings).events
    calendar = await factories.calendar(db)
    await events.save_event(
        db,
        EventInput(
            calendar_id=calendar.id,
            title="Folk night",
            slug="folk-night",
            timezone="Europe/London",
            start_local=datetime(2030, 3, 5, 18),
            end_local=datetime(2030, 3, 5, 20),
            rrule="FREQ=WEEKLY;COUNT=2",
            status="published",
        ),
    )
    assert await events.federate_occurrences(db, now=datetime(2030, 3, 1, tzinfo=UTC)) == 2
    payload = await db.scalar(select(ApActivity.payload).where(ApActivity.actor_app == "events"))
    assert payload is not None
    node, dropped = expand(payload)
    assert dropped == []
    [event] = node[f"{AS}object"]
    assert event["@type"] == [f"{AS}Event"]
    assert event["@id"].endswith("/occurrences/20300305T180000Z")
    assert one(event, f"{AS}startTime") == "2030-03-05T18:00:00+00:00"
    events_url = settings.apps["events"].public_url
    assert event[f"{SCHEMA}superEvent"] == [{"@id": f"{events_url}/events/folk-night"}]


async def test_a_members_post_keeps_sensitive_content_warning_and_hashtags(
    db: AsyncSession, settings: Settings
) -> None:
    social = build_services(settings).social
    ash = await make_member(db, "ash")
    await social.compose(
        db, ash.id, ComposeInput(text="Spoilers about the #harvest", spoiler_text="Food talk")
    )
    payload = await db.scalar(
        select(ApActivity.payload).where(ApActivity.activity_type == "Create")
    )
    assert payload is not None
    node, dropped = expand(payload)
    assert dropped == []
    [note] = node[f"{AS}object"]
    assert one(note, f"{AS}sensitive") is True
    assert one(note, f"{AS}summary") == "Food talk"
    fed = settings.apps["federation"].public_url
    assert hashtags(note) == {"#harvest": f"{fed}/social/tags/harvest"}


async def test_a_members_actor_keeps_discoverable_locked_and_profile_fields(
    db: AsyncSession, settings: Settings
) -> None:
    social = build_services(settings).social
    ash = await make_member(db, "ash")
    await social.update_profile(
        db,
        ash.id,
        SocialProfileInput(
            display_name="Ash",
            bio="Grows things.",
            avatar_url="",
            header_url="",
            fields=(("Allotment", "Plot 7"),),
            locked=True,
            hide_followers=False,
            discoverable=False,
        ),
    )
    doc = await social.actor_document(db, "ash")
    assert doc is not None
    node, dropped = expand(dict(doc.data))
    assert dropped == []
    assert one(node, f"{TOOT}discoverable") is False
    assert one(node, f"{AS}manuallyApprovesFollowers") is True
    [field] = node[f"{AS}attachment"]
    assert field["@type"] == [f"{SCHEMA}PropertyValue"]
    assert one(field, f"{AS}name") == "Allotment"
    assert one(field, f"{SCHEMA}value") == "Plot 7"


async def test_a_members_actor_keeps_its_aliases_and_where_it_moved(
    db: AsyncSession, settings: Settings
) -> None:
    social = build_services(settings).social
    ash, bea = await make_member(db, "ash"), await make_member(db, "bea")
    old, new = await make_member(db, "oldash"), await make_member(db, "newash")
    host = (await social.account_for_member(db, ash.id)).acct.split("@", 1)[1]
    await social.add_alias(db, ash.id, f"@oldash@{host}")
    await social.add_alias(db, ash.id, f"@bea@{host}")
    await social.add_alias(db, new.id, f"@ash@{host}")
    await social.move_away(db, ash.id, f"@newash@{host}")
    doc = await social.actor_document(db, "ash")
    assert doc is not None
    node, dropped = expand(dict(doc.data))
    assert dropped == []
    uri = {u.id: (await social.account_for_member(db, u.id)).uri for u in (bea, old, new)}
    assert values(node, f"{AS}alsoKnownAs") == [uri[old.id], uri[bea.id]]
    assert one(node, f"{AS}movedTo") == uri[new.id]


def test_the_app_actors_expand_with_nothing_dropped(settings: Settings) -> None:
    for app in settings.apps:
        node, dropped = expand(actor_document(settings, app))
        assert dropped == [], app
        assert values(node, "https://w3id.org/security#publicKey"), app
