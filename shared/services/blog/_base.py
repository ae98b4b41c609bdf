"""The base every part of the blog service builds on: its wiring (the FederationService and
the public addresses)."""

from __future__ import annotations

from shared.config import MediaSettings
from shared.contracts import FederationService


class BlogBase:
    """The blog service's wiring, shared by its parts (see ``SqlBlogService``)."""

    def __init__(
        self,
        federation: FederationService,
        public_url: str,
        market_url: str = "",
        events_url: str = "",
        media: MediaSettings | None = None,
    ) -> None:
        # ``public_url`` is the blog's address as readers see it: federated posts link there;
        # products embedded in them link to ``market_url``, events to ``events_url``. ``media``
        # is where stored images are (a feature image's size is read from its file).
        self.federation = federation
        self.public_url = public_url.rstrip("/")
        self.market_url = market_url.rstrip("/")
        self.events_url = events_url.rstrip("/")
        self.media = media or MediaSettings()
