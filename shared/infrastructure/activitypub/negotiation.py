"""Public pages that are also ActivityPub objects (issue #20, item 3).

Mastodon's search resolves a pasted URL by GETting it with ``Accept: application/activity+json``
and, when it gets HTML, by following the page's
``<link rel="alternate" type="application/activity+json">``. A view decorated with
:func:`activitypub_object` does both: a server asking for ActivityStreams gets the object
(404 when the public cannot read it, 410 for a Tombstone), a browser gets the page with the
alternate link (``base.html`` renders ``g.activitypub_alternate``) and ``Vary: Accept``.

The page cache never mixes the two: it neither serves nor stores a request that asks for JSON
(``PageCache.key_for``) and stores only HTML answers, and ``Vary: Accept`` tells every cache
in between the same. Put the decorator outside ``@cacheable_page``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from quart import abort, g, make_response

from shared.contracts import ApObjectDTO
from shared.infrastructure.activitypub.actors import CONTEXT
from shared.infrastructure.activitypub.routes import as_json, wants_activity_json

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
# Given the view's URL arguments, the object the page shows (None: no public object).
ObjectLookup = Callable[..., Awaitable[ApObjectDTO | None]]


def activitypub_object(lookup: ObjectLookup) -> Callable[[F], F]:
    """Answer ActivityStreams requests with ``lookup(**view_args)``, and link it from the page."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            obj = await lookup(**kwargs)
            if wants_activity_json():
                if obj is None:
                    abort(404)
                doc = {"@context": CONTEXT, **obj.data}
                return as_json(doc, status=410 if obj.type == "Tombstone" else 200)
            if obj is not None and obj.type != "Tombstone":
                g.activitypub_alternate = obj.data.get("id")
            response = await make_response(await view(*args, **kwargs))
            response.vary.add("Accept")
            return response

        return wrapper  # type: ignore[return-value]

    return decorate
