"""The ActivityPub routes every app gets from the factory (``install(app)``).

Discovery on every host (WebFinger, host-meta, NodeInfo 2.1), the app's actor with its inbox,
outbox, followers and following, the host's shared inbox, and the activities and objects it
published. Actor, activity and object URLs answer ActivityStreams JSON to servers that ask for
it and HTML (through the shared layout) to browsers. Inboxes are exempt from CSRF: they are
POSTed by other servers and authenticated by HTTP Signatures instead.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from quart import (
    Blueprint,
    Quart,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
)

from shared.infrastructure import inputs
from shared.infrastructure.activitypub import authorized, keys, knock, members
from shared.infrastructure.activitypub import inbox as inbox_handler
from shared.infrastructure.activitypub.actors import (
    AS_MEDIA_TYPE,
    CONTEXT,
    ActorUrls,
    actor_document,
    actor_urls,
)
from shared.infrastructure.activitypub.discovery import (
    NODEINFO_CONTENT_TYPE,
    host_meta,
    nodeinfo,
    nodeinfo_links,
    resolve_resource,
    webfinger,
)
from shared.infrastructure.activitypub.fetch import Fetcher, guarded_client
from shared.infrastructure.context import current_platform, db_session, services
from shared.infrastructure.csrf import csrf_exempt

bp = Blueprint("activitypub", __name__)

INBOX_CSRF_REASON = "ActivityPub inbox: POSTed by other servers, authenticated by HTTP Signatures"
AS_TYPES = (
    "application/activity+json",
    "application/ld+json",
)


def wants_activity_json() -> bool:
    """Whether the client asked for ActivityStreams rather than a page."""
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in AS_TYPES:
            return True
    return False


def as_json(doc: dict[str, Any], status: int = 200) -> Response:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, status=status, content_type=AS_MEDIA_TYPE)
    response.headers["Vary"] = "Accept"
    response.headers["Cache-Control"] = "max-age=60"
    return response


def _json(doc: dict[str, Any], content_type: str) -> Response:
    response = Response(json.dumps(doc, separators=(",", ":")), content_type=content_type)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "max-age=300"
    return response


def _app_urls() -> ActorUrls:
    rose = current_platform()
    return actor_urls(rose.settings, rose.name)


def _actor_or_404(name: str) -> ActorUrls:
    urls = _app_urls()
    if name != urls.app:
        abort(404)
    return urls


# --- discovery ------------------------------------------------------------------------


@bp.get("/.well-known/webfinger")
async def webfinger_view() -> Response:
    resource = request.args.get("resource", "")
    if not resource:
        abort(400, "A resource is required.")
    rose = current_platform()
    urls = resolve_resource(rose.settings, rose.name, resource)
    if urls is None and rose.name == "federation":
        # Members' own actors live on federation's host too (alice@<federation host>).
        username = members.resource_username(rose.settings, resource)
        account = (
            await services().social.local_account(db_session(), username) if username else None
        )
        if account is None:
            abort(404, "No such account here.")
        if account.suspended:
            # Suspended or erased: gone, as Mastodon answers, so servers stop asking.
            abort(410, "This account is gone.")
        member = members.member_urls(rose.settings, account.username)
        return _json(members.webfinger_document(member), "application/jrd+json")
    if urls is None:
        abort(404, "No such account here.")
    return _json(webfinger(urls), "application/jrd+json")


@bp.get("/.well-known/host-meta")
async def host_meta_view() -> Response:
    response = Response(host_meta(_app_urls().base), content_type="application/xrd+xml")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/nodeinfo")
async def nodeinfo_links_view() -> Response:
    return _json(nodeinfo_links(_app_urls()), "application/json")


@bp.get("/nodeinfo/2.1")
async def nodeinfo_view() -> Response:
    rose = current_platform()
    session = db_session()
    posts = await services().federation.local_post_count(session, rose.name)
    # Members have their accounts (and actors) on federation's host only.
    members = await services().identity.member_usage(session) if rose.name == "federation" else None
    return _json(
        nodeinfo(rose.settings, rose.name, local_posts=posts, members=members),
        NODEINFO_CONTENT_TYPE,
    )


# --- the actor ------------------------------------------------------------------------


@bp.get("/ap/users/<name>")
async def actor_view(name: str) -> Any:
    urls = _actor_or_404(name)
    rose = current_platform()
    if wants_activity_json():
        return as_json(actor_document(rose.settings, name))
    session = db_session()
    page = await services().federation.outbox_page(session, name, max_id=None, limit=10)
    followers = await services().federation.follower_count(session, name)
    html = await render_template(
        "activitypub/actor.html",
        actor=actor_document(rose.settings, name),
        urls=urls,
        followers=followers,
        activities=page.items,
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/ap/users/<name>/outbox")
async def outbox_view(name: str) -> Response:
    urls = _actor_or_404(name)
    settings = current_platform().settings
    limit = settings.activitypub.outbox_page_size
    session = db_session()
    if "page" not in request.args and "max_id" not in request.args:
        total = await services().federation.outbox_count(session, name)
        return as_json(
            {
                "@context": CONTEXT,
                "id": urls.outbox,
                "type": "OrderedCollection",
                "totalItems": total,
                "first": f"{urls.outbox}?page=true",
            }
        )
    max_id = inputs.query_int("max_id")
    page = await services().federation.outbox_page(session, name, max_id=max_id, limit=limit)
    page_id = f"{urls.outbox}?page=true" + (f"&max_id={max_id}" if max_id else "")
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": page_id,
        "type": "OrderedCollectionPage",
        "partOf": urls.outbox,
        "totalItems": page.total,
        "orderedItems": [
            {k: v for k, v in a.payload.items() if k != "@context"} for a in page.items
        ],
    }
    if page.next_max_id is not None:
        doc["next"] = f"{urls.outbox}?page=true&max_id={page.next_max_id}"
    return as_json(doc)


@bp.get("/ap/users/<name>/followers")
async def followers_view(name: str) -> Response:
    urls = _actor_or_404(name)
    session = db_session()
    limit = current_platform().settings.activitypub.outbox_page_size
    total = await services().federation.follower_count(session, name)
    page = inputs.query_int("page", maximum=inputs.MAX_PAGE)
    if page is None:
        return as_json(
            {
                "@context": CONTEXT,
                "id": urls.followers,
                "type": "OrderedCollection",
                "totalItems": total,
                "first": f"{urls.followers}?page=1",
            }
        )
    followers = await services().federation.followers_page(session, name, page=page, limit=limit)
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"{urls.followers}?page={page}",
        "type": "OrderedCollectionPage",
        "partOf": urls.followers,
        "totalItems": total,
        "orderedItems": [f.actor_uri for f in followers],
    }
    if page * limit < total:
        doc["next"] = f"{urls.followers}?page={page + 1}"
    return as_json(doc)


@bp.get("/ap/users/<name>/following")
async def following_view(name: str) -> Response:
    urls = _actor_or_404(name)
    # App actors follow nobody.
    return as_json(
        {
            "@context": CONTEXT,
            "id": urls.following,
            "type": "OrderedCollection",
            "totalItems": 0,
            "orderedItems": [],
        }
    )


# --- inboxes --------------------------------------------------------------------------


async def receive(recipient_app: str | None) -> Response:
    """Verify and act on the inbox request in flight (app actors' and members' inboxes)."""
    return await _receive(recipient_app)


async def _receive(recipient_app: str | None) -> Response:
    rose = current_platform()
    limit = rose.settings.activitypub.max_body_bytes
    if (request.content_length or 0) > limit:
        raise inbox_handler.BodyTooLarge(
            "body_too_large", "That activity is larger than we accept."
        )
    body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    path = request.full_path if request.query_string else request.path
    public = urlsplit(rose.settings.apps[rose.name].public_url)
    received = await inbox_handler.handle(
        db_session(),
        rose.settings,
        fetcher(),
        recipient_app,
        inbox_handler.InboundRequest(
            request.method,
            path,
            dict(request.headers.items()),
            body,
            f"{public.scheme}://{public.netloc}",
        ),
        rose.redis,
    )
    return Response("", status=202 if received.outcome != "duplicate" else 200)


@bp.post("/ap/users/<name>/inbox")
@csrf_exempt(INBOX_CSRF_REASON)
async def inbox_view(name: str) -> Response:
    _actor_or_404(name)
    return await _receive(name)


@bp.post("/ap/inbox")
@csrf_exempt(INBOX_CSRF_REASON)
async def shared_inbox_view() -> Response:
    return await _receive(None)


# --- what we published ----------------------------------------------------------------


@bp.get("/ap/activities/<uid>")
async def activity_view(uid: str) -> Any:
    urls = _app_urls()
    activity = await services().federation.activity_by_uri(db_session(), urls.activity(uid))
    if activity is None:
        abort(404)
    if wants_activity_json():
        return as_json(dict(activity.payload))
    obj = activity.payload.get("object")
    return await _object_page(obj if isinstance(obj, dict) else {"id": obj}, dict(activity.payload))


@bp.get("/ap/objects/<uid>")
async def object_view(uid: str) -> Any:
    urls = _app_urls()
    obj = await services().federation.object_by_uri(db_session(), urls.object(uid))
    if obj is None:
        abort(404)
    if obj.type == "Tombstone":
        if wants_activity_json():
            return as_json({"@context": CONTEXT, **obj.data}, status=410)
        abort(410)
    if wants_activity_json():
        return as_json({"@context": CONTEXT, **obj.data})
    return await _object_page(dict(obj.data), None)


@bp.get("/ap/objects/<uid>/occurrences/<key>")
async def occurrence_view(uid: str, key: str) -> Any:
    """One occurrence of a recurring event, announced as its own object under the series' id:
    the object (a Tombstone once deleted) to a server, its date's page to a browser."""
    urls = _app_urls()
    uri = f"{urls.object(uid)}/occurrences/{key}"
    obj = await services().federation.object_by_uri(db_session(), uri)
    if obj is None:
        abort(404)
    if wants_activity_json():
        status = 410 if obj.type == "Tombstone" else 200
        return as_json({"@context": CONTEXT, **obj.data}, status=status)
    if obj.type == "Tombstone":
        abort(410)
    page = obj.data.get("url")
    if isinstance(page, str) and page.startswith(f"{urls.base}/"):
        response = redirect(page, 303)
        response.headers["Vary"] = "Accept"
        return response
    return await _object_page(dict(obj.data), None)


async def _object_page(obj: dict[str, Any], activity: dict[str, Any] | None) -> Response:
    html = await render_template("activitypub/object.html", obj=obj, activity=activity)
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Vary"] = "Accept"
    return response


# --- wiring ---------------------------------------------------------------------------


def fetcher() -> Fetcher:
    """A signed, guarded fetcher acting as this app's actor."""
    rose = current_platform()
    client: httpx.AsyncClient = current_app.extensions["activitypub_client"]
    return Fetcher(
        rose.settings,
        client,
        key_id=actor_urls(rose.settings, rose.name).key_id,
        memory=knock.memory_for(rose.redis),
    )


def install(app: Quart) -> None:
    """Give ``app`` its actor and the discovery routes; called by ``create_base_app``."""
    # Fail at start-up, with one line naming ROSE_AP_PRIVATE_KEY, rather than on first use.
    keys.public_key_pem(app.extensions["rose"].settings)
    app.register_blueprint(bp)

    @app.before_request
    async def _authorized_fetch() -> None:
        if authorized.applies():
            await authorized.check(fetcher())

    @app.before_serving
    async def _open_client() -> None:
        app.extensions["activitypub_client"] = guarded_client(app.extensions["rose"].settings)

    @app.after_serving
    async def _close_client() -> None:
        client = app.extensions.pop("activitypub_client", None)
        if client is not None:
            await client.aclose()
