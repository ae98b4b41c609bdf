"""The blog domain: reading posts and pages for the public site, writing them for the editor
and the Ghost sync, search, scheduled publishing, and the site navigation every header shows.

One object, :class:`SqlBlogService`, implements the BlogService protocol (and PersonalData
for the account app); its parts live in modules of their own:

- ``_base``: the wiring; ``_common``: the helpers that make DTOs of rows and bound listings;
- :mod:`~shared.services.blog.navigation`: the site navigation, the editors' links and Ghost's;
- :mod:`~shared.services.blog.reading`: listings, archives, feeds, the sitemap, one post;
- :mod:`~shared.services.blog.search`: full-text search;
- :mod:`~shared.services.blog.content`: a post's fields, slug, tags and authors as written;
- :mod:`~shared.services.blog.publishing`: the editor's writes and scheduled publishing;
- :mod:`~shared.services.blog.synced`: what the Ghost sync stores;
- :mod:`~shared.services.blog.fediverse`: posts on the fediverse, announced in the writer's
  transaction (only public posts: see its docstring);
- :mod:`~shared.services.blog.personal_data`: a member's export and erasure;
- :mod:`~shared.services.blog.dashboard`: the widgets staff place on the members' dashboard.

Each part is a class building on ``_base`` and inheriting the parts it calls, so mypy checks
every call between parts and callers see a single object.

Every method takes the caller's ``AsyncSession`` (the request's, or the CLI's) and returns
DTOs.
"""

from __future__ import annotations

from shared.services.blog.dashboard import BlogDashboard
from shared.services.blog.navigation import BlogNavigation
from shared.services.blog.personal_data import BlogPersonalData
from shared.services.blog.publishing import BlogPublishing
from shared.services.blog.search import BlogSearch
from shared.services.blog.synced import BlogSynced


class SqlBlogService(
    BlogNavigation, BlogPublishing, BlogSynced, BlogSearch, BlogPersonalData, BlogDashboard
):
    """Posts, pages, tags, authors and the site navigation (the BlogService protocol):
    ``SqlBlogService(federation, public_url, market_url, events_url, media)``."""
