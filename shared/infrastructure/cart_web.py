"""The cart's part of every app: the anonymous cart-key cookie, the merge at sign-in, the
"Add to cart" form's endpoint, and ``GET /cart-mini``: the header's mini cart of a page cached
for every visitor with a cart.

The visitor experiences one site on several subdomains, so the cart key lives in one signed
cookie every app reads (``rose_cart``, on ``cart.cookie_domain``), not in an app's session:
each request verifies it and hands it to :func:`shared.infrastructure.visitor.set_cart_key`.
The key is created only when a visitor first adds something.

When a member is signed in and the browser still carries a cart key, the anonymous cart is
merged into the member's (on the first request of any app after sign-in) and the cookie is
dropped.

CSRF tokens belong to each app's session, so an "Add to cart" form on a market page cannot
post to the cart app: it posts to ``POST /cart-add`` on the app that shows it, registered
here for every app, which calls the CartService through the registry. With htmx the answer
replaces the form and, out of band, the header's mini cart; without JavaScript it redirects
to the cart page, which says what happened.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Quart, Response, g, redirect, render_template, request
from werkzeug.datastructures import MultiDict

from shared.contracts import CartOwner
from shared.errors import DomainError
from shared.infrastructure.boost import is_htmx
from shared.infrastructure.context import app_secret, current_platform, db_session, services
from shared.infrastructure.csrf import csrf_token_optional
from shared.infrastructure.fragments import FragmentRef, invalidate_after_commit, page_fragments
from shared.infrastructure.ratelimit import rate_limited
from shared.infrastructure.visitor import CART_KEY_RE, Visitor, current_user_id, set_cart_key

log = logging.getLogger(__name__)

COOKIE = "rose_cart"
MINI_FRAGMENT = "cart/mini"
KINDS = ("product", "ticket")

bp = Blueprint("cart_add", __name__)


def _key() -> bytes:
    # The same key in every app (derived for "cart"), so any app can verify the cookie.
    return app_secret(current_platform().settings, "cart", "cart-key-cookie")


def sign_cart_key(cart_key: str) -> str:
    mac = hmac.new(_key(), cart_key.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{cart_key}.{mac}"


def verify_cart_cookie(value: str | None) -> str | None:
    if not value or "." not in value or len(value) > 200:
        return None
    cart_key, _, mac = value.rpartition(".")
    if not CART_KEY_RE.match(cart_key):
        return None
    expected = hmac.new(_key(), cart_key.encode(), hashlib.sha256).hexdigest()[:32]
    return cart_key if hmac.compare_digest(mac, expected) else None


def cart_owner(*, create: bool = False) -> CartOwner | None:
    """Whose cart this request acts on: the member, else the visitor's cart key (made now
    when ``create``), else None."""
    user_id = current_user_id()
    if user_id is not None:
        return CartOwner(user_id=user_id)
    cart_key = g.get("cart_key")
    if not isinstance(cart_key, str) and create:
        cart_key = secrets.token_urlsafe(24)
        g.new_cart_key = cart_key
        set_cart_key(cart_key)
    return CartOwner(cart_key=cart_key) if isinstance(cart_key, str) else None


def visitor_of(owner: CartOwner) -> Visitor:
    if owner.user_id is not None:
        return Visitor(user_id=owner.user_id)
    return Visitor(cart_key=owner.cart_key)


def cart_changed(owner: CartOwner) -> None:
    """Outdate ``owner``'s cached mini cart once this request's work is committed."""
    invalidate_after_commit(db_session(), MINI_FRAGMENT, visitor_of(owner))


async def _load_cart_key() -> None:
    """Before every request (after the member is loaded): verify the cart cookie; merge an
    anonymous cart into a signed-in member's."""
    cart_key = verify_cart_cookie(request.cookies.get(COOKIE))
    user_id = current_user_id()
    if cart_key is None:
        return
    if user_id is None:
        set_cart_key(cart_key)
        return
    moved = await services().cart.merge(db_session(), cart_key, user_id)
    if moved:
        log.info("merged %d cart lines into member %s's cart", moved, user_id)
        cart_changed(CartOwner(user_id=user_id))
    g.drop_cart_cookie = True


async def _store_cart_key(response: Response) -> Response:
    settings = current_platform().settings
    domain = settings.cart.cookie_domain or None
    new_key = g.get("new_cart_key")
    if isinstance(new_key, str) and response.status_code < 400:
        response.set_cookie(
            COOKIE,
            sign_cart_key(new_key),
            max_age=settings.cart.cookie_max_age_s,
            domain=domain,
            path="/",
            secure=settings.cookie_secure,
            httponly=True,
            samesite="Lax",
        )
    elif g.get("drop_cart_cookie") and response.status_code < 400:
        response.delete_cookie(COOKIE, domain=domain, path="/")
    return response


def install(app: Quart) -> None:
    """Every app: the cart cookie (after sign-in is loaded) and ``POST /cart-add``."""
    app.before_request(_load_cart_key)
    app.after_request(_store_cart_key)
    app.register_blueprint(bp)


@bp.get("/cart-mini")
async def cart_mini() -> Response:
    """The header's mini cart of this visitor: what a page cached for everyone with a cart
    asks for as it loads (pagecache.py). Never cached but in the fragment's own copy."""
    found = await page_fragments(FragmentRef.of(MINI_FRAGMENT))
    mini = str(found.get(MINI_FRAGMENT, ""))
    body = f'<div class="slot slot-cart">{mini}</div>'
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = "private, no-store"
    response.vary.add("Cookie")
    return response


def _positive_int(form: MultiDict[str, str], name: str, default: int | None = None) -> int:
    raw = form.get(name)
    if (raw is None or raw == "") and default is not None:
        return default
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise DomainError("invalid_" + name, "That request did not make sense.")
    return int(raw)


async def add_from_form(form: MultiDict[str, str]) -> tuple[str, str, int]:
    """Parse and apply an add-to-cart form; returns (kind, message, item_id)."""
    kind = form.get("kind", "")
    if kind not in KINDS:
        raise DomainError("unknown_kind", "That cannot be bought here.")
    item_id = _positive_int(form, "item_id")
    quantity = _positive_int(form, "quantity", 1)
    owner = cart_owner(create=True)
    assert owner is not None
    line = await services().cart.add(db_session(), owner, kind, item_id, quantity)
    cart_changed(owner)
    return kind, f"Added to your cart: {line.title} (now {line.quantity}).", item_id


# "Add to cart" forms are on the market's listings and product pages, which anonymous visitors
# are served whole from the page cache: a session token in them would make every such page
# set a cookie, and so never be cached (the benchmark found the market home at 0.03 of a bare
# route for that reason). Adding to a cart moves no money; checkout keeps its token.
ADD_CSRF_REASON = (
    "the add-to-cart form is in pages cached whole for anonymous visitors; its Origin is "
    "checked, and adding to a cart moves no money (checkout keeps the token)"
)


@bp.post("/cart-add")
@csrf_token_optional(ADD_CSRF_REASON)
@rate_limited("cart")
async def cart_add() -> Any:
    form = await request.form
    htmx = is_htmx(request.headers.get("HX-Request"))
    cart_url = current_platform().settings.apps["cart"].public_url
    kind, item_id = form.get("kind", ""), form.get("item_id", "")
    try:
        _kind, message, _item = await add_from_form(form)
        error = None
    except DomainError as err:
        if not htmx:
            # Nothing was changed; the cart page says why.
            return redirect(f"{cart_url}/?" + urlencode({"notice": err.code}))
        message, error = err.message, err.code
        await db_session().rollback()
    if not htmx:
        return redirect(f"{cart_url}/?" + urlencode({"notice": "added"}))
    owner = cart_owner()
    summary = await services().cart.mini_summary(db_session(), owner) if owner is not None else None
    body = await render_template(
        "cart/_add_result.html",
        kind=kind,
        item_id=item_id,
        message=message,
        error=error,
        summary=summary,
    )
    return Response(body, mimetype="text/html")
