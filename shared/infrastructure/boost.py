"""What a boosted navigation is (htmx): one definition, read by the renderer, the page cache,
the redirect out of a boost and silent sign-on, so that none of them can disagree about it.

htmx sends ``HX-Request: true`` with each of its requests and adds
``HX-History-Restore-Request: true`` when back/forward finds no snapshot and asks for the whole
page again. Any other value (or none) of either header means what its absence means.
"""

from __future__ import annotations

# The request headers a page's response varies on (its ``Vary``).
BOOST_HEADERS = ("HX-Request", "HX-History-Restore-Request")


def is_htmx(hx_request: str | None) -> bool:
    """Whether a request with this ``HX-Request`` value was made by htmx."""
    return hx_request == "true"


def wants_partial(hx_request: str | None, history_restore: str | None) -> bool:
    """Whether a request with these header values gets only the page's title and
    ``#content`` (a boosted navigation) rather than the whole page (every other request,
    a history restore among them)."""
    return is_htmx(hx_request) and history_restore != "true"
