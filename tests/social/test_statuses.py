"""The social hub at federation, posts and timelines: a post reaches each remote inbox once and
its visibility holds, direct posts and mentions, replies, likes and boosts both ways, editing,
timelines that page with a stable cursor, what followed accounts send (articles, events,
boosts, content warnings), refused input, and the demo hub — through the real app, the real
inbox (HTTP Signatures checked) and the real OutboxProcessor delivering to remote servers on
loopback."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.config import Settings
from shared.contracts import ComposeInput
from shared.infrastructure import internal_auth
from shared.infrastructure.context import use_services
from shared.infrastructure.factory import RoseQuart
from shared.infrastructure.visitor import Visitor
from shared.models import (
    ApDelivery,
    SocialNotification,
    SocialStatus,
    User,
)
from shared.services.federation.outbox import OutboxProcessor
from shared.services.identity.demo import seed_identity
from shared.services.registry import build_services
from shared.services.social.demo import seed_social
from tests.identity.factories import make_member
from tests.social.factories import (
    AS,
    FED,
    HTML,
    PUBLIC,
    activity,
    follow_remote,
    form_post,
    home_html,
    local_account_id,
    note,
    send,
    social_member,
)
from tests.support import count_statements
from tests.support.activitypub import LoopbackServer, RemoteActor, make_actor
from tests.support.settings import TEST_INTERNAL_SECRET

# --- posting --------------------------------------------------------------------------------------


async def test_a_post_reaches_each_remote_inbox_exactly_once_and_visibility_holds(
    app: RoseQuart,
    db: AsyncSession,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    cal = await social_member(app, db, "cal")
    # Three remote followers: two share an inbox, one has only its own.
    carol = make_actor(remote, "carol")
    dave = make_actor(remote, "dave")
    [other_port] = await remote.start()
    erin = make_actor(remote, "erin", port=other_port, shared_inbox=False)
    for follower in (carol, dave, erin):
        resp = await send(
            app, follower, activity(follower, "Follow", f"{FED}/users/ash"), "/users/ash/inbox"
        )
        assert resp.status_code == 202
    await processor.run_once()
    accepts = [r.json() for r in remote.received]
    assert sorted(a["type"] for a in accepts) == ["Accept"] * 3
    remote.received.clear()
    # bea follows ash inside the platform; cal does not.
    resp = await form_post(bea, f"/social/accounts/{await local_account_id(db, 'ash')}/follow")
    assert resp.status_code == 303

    resp = await form_post(
        ash, "/social/statuses", text="Bread is out #sourdough", visibility="public"
    )
    assert resp.status_code == 303
    resp = await form_post(
        ash, "/social/statuses", text="Followers: the secret starter", visibility="private"
    )
    assert resp.status_code == 303
    await db.commit()
    await processor.run_once()
    by_inbox: dict[str, list[str]] = {}
    for r in remote.received:
        by_inbox.setdefault(f"{r.port}{r.path}", []).append(r.json()["object"]["content"])
    # One POST per inbox per post: the shared inbox once for carol and dave, erin's own once.
    assert sorted(by_inbox) == sorted(
        [f"{remote.ports[0]}/inbox", f"{other_port}/users/erin/inbox"]
    )
    assert all(len(v) == 2 for v in by_inbox.values())
    deliveries = await db.scalar(
        select(func.count()).select_from(ApDelivery).where(ApDelivery.status == "delivered")
    )
    assert deliveries == 4 + 3  # two posts to two inboxes, and the three Accepts
    public_note = next(
        r.json() for r in remote.received if "Bread" in r.json()["object"]["content"]
    )
    assert public_note["object"]["to"] == [PUBLIC]
    assert {
        "type": "Hashtag",
        "href": f"{FED}/social/tags/sourdough",
        "name": "#sourdough",
    } in public_note["object"]["tag"]
    private_note = next(
        r.json() for r in remote.received if "secret" in r.json()["object"]["content"]
    )
    assert PUBLIC not in private_note["object"]["to"] + private_note["object"]["cc"]

    # bea (a follower) sees both; cal (not following) and strangers see only the public one.
    assert "secret starter" in await home_html(bea)
    assert "Bread is out" in await home_html(bea)
    assert "secret starter" not in await home_html(cal, "/users/ash")
    assert "secret starter" not in await home_html(app.test_client(), "/users/ash")
    assert "secret starter" not in await home_html(app.test_client(), "/social/local")
    assert "Bread is out" in await home_html(app.test_client(), "/social/local")
    private_id = await db.scalar(
        select(SocialStatus.id).where(SocialStatus.visibility == "private")
    )
    assert (await cal.get(f"/social/statuses/{private_id}", headers=HTML)).status_code == 404
    assert (await bea.get(f"/social/statuses/{private_id}", headers=HTML)).status_code == 200
    private_uri = await db.scalar(select(SocialStatus.uri).where(SocialStatus.id == private_id))
    assert private_uri is not None
    assert (
        await app.test_client().get(private_uri.removeprefix(FED), headers=AS)
    ).status_code == 404
    outbox = await (
        await app.test_client().get("/users/ash/outbox?page=true", headers=AS)
    ).get_json()
    contents = [i["object"]["content"] for i in outbox["orderedItems"]]
    assert len(contents) == 1
    assert "Bread is out" in contents[0]
    # The app actor's outbox does not list members' posts.
    app_outbox = await (
        await app.test_client().get("/ap/users/federation/outbox?page=true", headers=AS)
    ).get_json()
    assert app_outbox["orderedItems"] == []

    # Someone else's post cannot be deleted by another member (404); the author can.
    public_id = await db.scalar(select(SocialStatus.id).where(SocialStatus.visibility == "public"))
    assert (await form_post(bea, f"/social/statuses/{public_id}/delete")).status_code == 404
    assert (await form_post(ash, f"/social/statuses/{public_id}/delete")).status_code == 303
    await db.commit()
    remote.received.clear()
    await processor.run_once()
    assert sorted(r.json()["type"] for r in remote.received) == ["Delete", "Delete"]
    # Gancio refuses a Delete whose Tombstone does not say what it was.
    assert {r.json()["object"]["formerType"] for r in remote.received} == {"Note"}
    gone = await app.test_client().get(
        (
            await db.scalar(select(SocialStatus.uri).where(SocialStatus.id == public_id)) or ""
        ).removeprefix(FED),
        headers=AS,
    )
    assert gone.status_code == 410
    assert (await gone.get_json())["formerType"] == "Note"
    # The outbox lists what stands now: the deleted post is neither listed nor counted.
    client = app.test_client()
    assert (await (await client.get("/users/ash/outbox", headers=AS)).get_json())["totalItems"] == 0
    page = await (await client.get("/users/ash/outbox?page=true", headers=AS)).get_json()
    assert (page["orderedItems"], page["totalItems"]) == ([], 0)


async def test_direct_posts_and_mentions_reach_only_who_they_name(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    cal = await social_member(app, db, "cal")
    host = remote.base().split("://", 1)[1]
    resp = await form_post(
        ash,
        "/social/statuses",
        text=f"Psst @bea and @alice@{host}: cake at four",
        visibility="direct",
    )
    assert resp.status_code == 303
    await db.commit()
    await processor.run_once()
    [dm] = remote.posts_to("/users/alice/inbox")
    assert dm.json()["object"]["to"] == [f"{FED}/users/bea", alice.id]
    assert "cake at four" in await home_html(bea)
    assert "cake at four" not in await home_html(cal)
    assert "cake at four" not in await home_html(app.test_client(), "/users/ash")
    kinds = list(await db.scalars(select(SocialNotification.kind)))
    assert kinds == ["mention"]


async def test_a_remote_reply_like_and_boost_of_a_members_post_notify_them(
    app: RoseQuart, db: AsyncSession, alice: RemoteActor, processor: OutboxProcessor
) -> None:
    ash = await social_member(app, db, "ash")
    resp = await form_post(ash, "/social/statuses", text="Who wants bread?")
    assert resp.status_code == 303
    await db.commit()
    status_uri = await db.scalar(select(SocialStatus.uri))
    assert status_uri is not None
    reply = note(
        alice, "<p>Me please!</p>", inReplyTo=status_uri, to=[PUBLIC], cc=[f"{FED}/users/ash"]
    )
    for act in (
        activity(alice, "Create", reply),
        activity(alice, "Like", status_uri),
        activity(alice, "Announce", status_uri, to=[PUBLIC]),
    ):
        resp = await send(app, alice, act, "/users/ash/inbox")
        assert resp.status_code == 202, await resp.get_data(as_text=True)
    kinds = sorted(await db.scalars(select(SocialNotification.kind)))
    assert kinds == ["boost", "like", "reply"]
    page = await home_html(ash, "/social")
    assert 'data-unread="3"' in page
    html = await home_html(ash, "/social/notifications")
    assert "replied to your post" in html
    assert "liked your post" in html
    assert "boosted" in html
    status_id = await db.scalar(select(SocialStatus.id).where(SocialStatus.uri == status_uri))
    thread = await home_html(ash, f"/social/statuses/{status_id}")
    assert "Me please!" in thread
    assert "Like (1)" in thread
    assert "Boost (1)" in thread
    # A duplicate delivery changes nothing.
    like = activity(alice, "Like", status_uri)
    await send(app, alice, like, "/users/ash/inbox")
    assert (await send(app, alice, like, "/users/ash/inbox")).status_code == 200
    assert await db.scalar(select(func.count()).select_from(SocialNotification)) == 3
    # Every app's header shows the count: federation's per-member fragment.
    path = "/internal/fragments/notifications"
    _query, headers = internal_auth.sign(
        TEST_INTERNAL_SECRET,
        "GET",
        path,
        [],
        Visitor(user_id=ash.user_id),  # type: ignore[attr-defined]
    )
    fragment = await (await app.test_client().get(path, headers=headers)).get_data(as_text=True)
    assert 'data-unread="3"' in fragment
    await form_post(ash, "/social/notifications/read")
    assert "data-unread" not in await home_html(ash)


async def test_a_member_replies_likes_and_boosts_a_remote_post(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await social_member(app, db, "ash")
    await follow_remote(app, ash, alice, db)
    await processor.run_once()  # the Follow itself
    await send(
        app, alice, activity(alice, "Create", note(alice, "<p>Soup tonight</p>")), "/ap/inbox"
    )
    status_id = await db.scalar(select(SocialStatus.id))
    assert status_id is not None
    for action in ("favourite", "boost"):
        assert (await form_post(ash, f"/social/statuses/{status_id}/{action}")).status_code == 303
    resp = await form_post(
        ash, "/social/statuses", text="Save me a bowl", in_reply_to_id=str(status_id)
    )
    assert resp.status_code == 303
    await db.commit()
    remote.received.clear()
    await processor.run_once()
    types = sorted(r.json()["type"] for r in remote.posts_to("/users/alice/inbox"))
    assert types == ["Announce", "Create", "Like"]
    created = next(r.json() for r in remote.received if r.json()["type"] == "Create")
    soup = await db.scalar(select(SocialStatus.uri).where(SocialStatus.id == status_id))
    assert created["object"]["inReplyTo"] == soup
    assert alice.id in created["object"]["cc"]
    assert (await form_post(ash, f"/social/statuses/{status_id}/unfavourite")).status_code == 303
    await db.commit()
    remote.received.clear()
    await processor.run_once()
    [undo] = [r.json() for r in remote.posts_to("/users/alice/inbox")]
    assert undo["type"] == "Undo"
    assert undo["object"]["type"] == "Like"

    # The outbox lists what stands now: the boost until it is undone, then only the reply;
    # and nothing of alice's post once she deletes it (the boost goes with it).
    async def outbox_types() -> list[str]:
        page = await (
            await app.test_client().get("/users/ash/outbox?page=true", headers=AS)
        ).get_json()
        assert page["totalItems"] == len(page["orderedItems"])
        return sorted(item["type"] for item in page["orderedItems"])

    assert await outbox_types() == ["Announce", "Create"]
    assert (await form_post(ash, f"/social/statuses/{status_id}/unboost")).status_code == 303
    await db.commit()
    assert await outbox_types() == ["Create"]
    assert (await form_post(ash, f"/social/statuses/{status_id}/boost")).status_code == 303
    await db.commit()
    assert await outbox_types() == ["Announce", "Create"]
    gone = activity(alice, "Delete", {"id": soup, "type": "Tombstone"})
    assert (await send(app, alice, gone, "/ap/inbox")).status_code == 202
    assert await outbox_types() == ["Create"]


async def test_a_member_edits_a_post_and_followers_get_the_update(
    app: RoseQuart,
    db: AsyncSession,
    alice: RemoteActor,
    remote: LoopbackServer,
    processor: OutboxProcessor,
) -> None:
    ash = await social_member(app, db, "ash")
    bea = await social_member(app, db, "bea")
    await home_html(ash)
    resp = await send(app, alice, activity(alice, "Follow", f"{FED}/users/ash"), "/users/ash/inbox")
    assert resp.status_code == 202
    await form_post(ash, "/social/statuses", text="Opening at nine")
    status_id = await db.scalar(select(SocialStatus.id))
    edit_page = await home_html(ash, f"/social/statuses/{status_id}/edit")
    assert "Opening at nine" in edit_page
    assert (await bea.get(f"/social/statuses/{status_id}/edit", headers=HTML)).status_code == 404
    assert (
        await form_post(bea, f"/social/statuses/{status_id}/edit", text="hacked")
    ).status_code == 404
    assert (await form_post(ash, f"/social/statuses/{status_id}/edit", text=" ")).status_code == 400
    resp = await form_post(ash, f"/social/statuses/{status_id}/edit", text="Opening at ten")
    assert resp.status_code == 303
    thread = await home_html(bea, f"/social/statuses/{status_id}")
    assert "Opening at ten" in thread
    assert "edited" in thread
    await db.commit()
    remote.received.clear()
    await processor.run_once()
    kinds = [(r.json()["type"], r.json()["object"].get("content")) for r in remote.received]
    assert ("Update", "<p>Opening at ten</p>") in kinds
    note_doc = await (
        await app.test_client().get(
            (await db.scalar(select(SocialStatus.uri)) or "").removeprefix(FED), headers=AS
        )
    ).get_json()
    assert note_doc["content"] == "<p>Opening at ten</p>"
    assert "updated" in note_doc


# --- timelines ------------------------------------------------------------------------------------


async def test_home_timeline_pages_with_a_stable_cursor_and_without_n_plus_one(
    app: RoseQuart, db: AsyncSession, engine: AsyncEngine, settings: Settings
) -> None:
    social = build_services(settings).social
    ash = await make_member(db, "ash")
    for i in range(25):
        await social.compose(db, ash.id, ComposeInput(text=f"post number {i}"))
    first = await social.home_timeline(db, ash.id, max_id=None, limit=10)
    assert next(s.content for s in first.items) == "<p>post number 24</p>"
    # A new post arrives between pages: the next page neither repeats nor skips anything.
    await social.compose(db, ash.id, ComposeInput(text="late news"))
    second = await social.home_timeline(db, ash.id, max_id=first.next_max_id, limit=10)
    third = await social.home_timeline(db, ash.id, max_id=second.next_max_id, limit=10)
    seen = [s.content for s in first.items + second.items + third.items]
    assert seen == [f"<p>post number {i}</p>" for i in range(24, -1, -1)]
    assert third.next_max_id is None

    async def statements(limit: int) -> int:
        with count_statements(engine) as queries:
            await social.home_timeline(db, ash.id, max_id=None, limit=limit)
        return len(queries)

    assert await statements(3) == await statements(26)


async def test_articles_events_boosts_and_content_warnings_from_followed_accounts(
    app: RoseQuart, db: AsyncSession, alice: RemoteActor, remote: LoopbackServer
) -> None:
    ash = await social_member(app, db, "ash")
    await follow_remote(app, ash, alice, db)
    article = note(
        alice,
        "<p>Long read</p>",
        type="Article",
        name="Our harvest",
        summary="Food talk",
        sensitive=True,
    )
    event = note(
        alice,
        "<p>Bring a dish</p>",
        type="Event",
        name="Potluck",
        attachment=[
            {
                "type": "Document",
                "mediaType": "image/jpeg",
                "url": "http://10.0.0.5/pic.jpg",
                "name": "A table of food",
            }
        ],
    )
    for obj in (article, event):
        resp = await send(app, alice, activity(alice, "Create", obj), "/ap/inbox")
        assert resp.status_code == 202
    html = await home_html(ash)
    assert "Our harvest" in html
    assert "<summary>Content warning: Food talk</summary>" in html
    assert "Potluck" in html
    # Remote media is a link with its description, never an <img> loaded from its host.
    assert 'href="http://10.0.0.5/pic.jpg"' in html
    assert 'src="http://10.0.0.5' not in html
    # alice boosts another account's post we already know: it shows as her boost.
    bob = make_actor(remote, "bob")
    await send(
        app,
        bob,
        activity(
            bob,
            "Create",
            note(
                bob,
                "<p>Bob's bread</p>",
                cc=[f"{FED}/users/ash"],
                tag=[{"type": "Mention", "href": f"{FED}/users/ash"}],
            ),
        ),
        "/ap/inbox",
    )
    bob_uri = await db.scalar(
        select(SocialStatus.uri).where(SocialStatus.content.contains("Bob's"))
    )
    assert bob_uri is not None
    resp = await send(app, alice, activity(alice, "Announce", bob_uri, to=[PUBLIC]), "/ap/inbox")
    assert resp.status_code == 202
    html = await home_html(ash)
    assert "boosted" in html


async def test_bad_input_is_refused_and_changes_nothing(app: RoseQuart, db: AsyncSession) -> None:
    ash = await social_member(app, db, "ash")
    for fields in (
        {"text": ""},
        {"text": "x" * 5001},
        {"text": "hi", "visibility": "everyone"},
    ):
        resp = await form_post(ash, "/social/statuses", **fields)
        assert resp.status_code == 400, fields
    assert (
        await form_post(ash, "/social/statuses", text="hi", in_reply_to_id="abc")
    ).status_code == 400
    assert (
        await form_post(ash, "/social/statuses", text="hi", in_reply_to_id="999999")
    ).status_code == 404
    assert (await ash.get("/social?max_id=-3", headers=HTML)).status_code == 400
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 0
    assert (await form_post(ash, "/social/statuses/1/explode")).status_code == 404
    # Pages for members only send visitors to sign in.
    resp = await app.test_client().get("/social", headers=HTML)
    assert resp.status_code in (302, 303)
    assert re.search(r"/signin|/auth/login", resp.headers["Location"])


async def test_the_demo_social_hub_is_alive_and_seeding_is_idempotent(
    db: AsyncSession, settings: Settings
) -> None:
    # The seeders use the process's services (those of `rose-ash up`): these settings here.
    previous = use_services(build_services(settings))
    try:
        await seed_identity(db)
        await seed_social(db)
        await seed_social(db)
    finally:
        use_services(previous)
    social = build_services(settings).social
    users = dict((await db.execute(select(User.username, User.id))).all())
    rosa_home = await social.home_timeline(db, users["editor"], max_id=None, limit=20)
    texts = " ".join(s.content for s in rosa_home.items)
    assert "rhubarb" in texts
    assert "volunteers' rota" in texts
    assert await db.scalar(select(func.count()).select_from(SocialStatus)) == 4
    alice_notes = await social.notifications(db, users["alice"], max_id=None, limit=20)
    assert {n.kind for n in alice_notes.items} == {"follow", "reply", "like"}
    local = await social.local_timeline(db, None, max_id=None, limit=20)
    assert all(s.visibility == "public" for s in local.items)
