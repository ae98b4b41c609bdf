"""The blog domain: reading posts and pages for the public site, writing them for the editor
and the Ghost sync, search, scheduled publishing, and the site navigation every header shows.

One object, :class:`SqlBlogService`, implements the BlogService protocol (and PersonalData
for the account app); its parts live in modules of their own:

- :mod:`~shared.services.blog.core`: the wiring and the helpers that make DTOs of rows;
- :mod:`~shared.services.blog.navigation`: the site navigation, the editors' links and Ghost's;
- :mod:`~shared.services.blog.reading`: listings, archives, feeds, the sitemap, one post;
- :mod:`~shared.services.blog.search`: full-text search;
- :mod:`~shared.services.blog.content`: a post's fields, slug, tags and authors as written;
- :mod:`~shared.services.blog.publishing`: the editor's writes and scheduled publishing;
- :mod:`~shared.services.blog.synced`: what the Ghost sync stores;
- :mod:`~shared.services.blog.fediverse`: posts on the fediverse, announced in the writer's
  transaction (only public posts: see its docstring);
- :mod:`~shared.services.blog.personal_data`: a member's export and erasure.

Each part is a mixin class over the one core holding the wiring, and inherits the parts it
calls, so mypy checks every call between parts and callers see a single object.

Every method takes the caller's ``AsyncSession`` (the request's, or the CLI's) and returns
DTOs.
"""

from __future__ import annotations

from shared.services.blog.navigation import NavigationMixin
from shared.services.blog.personal_data import PersonalDataMixin
from shared.services.blog.publishing import PublishingMixin
from shared.services.blog.search import SearchMixin
from shared.services.blog.synced import SyncedMixin


class SqlBlogService(NavigationMixin, PublishingMixin, SyncedMixin, SearchMixin, PersonalDataMixin):
    """Posts, pages, tags, authors and the site navigation (the BlogService protocol):
    ``SqlBlogService(federation, public_url, market_url)``."""
