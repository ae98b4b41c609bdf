"""Full-text search of published posts and pages (PostgreSQL's ``websearch_to_tsquery``),
with highlighted snippets that never reveal what the paywall hides."""

from __future__ import annotations

import html

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import SearchHit, SearchResults
from shared.infrastructure.sanitize import clean_text
from shared.models.blog import BlogPost
from shared.services.blog._base import BlogBase
from shared.services.blog._common import check_paging, post_dto, published, with_relations

MAX_QUERY_CHARS = 200
# \x01 and \x02 never occur in stored text (the sanitizer strips control characters), so
# they can mark ts_headline's highlights through html.escape and become <mark> after it.
_HL_START, _HL_STOP = "\x01", "\x02"
_HEADLINE_OPTIONS = (
    f"StartSel={_HL_START}, StopSel={_HL_STOP}, MaxWords=35, MinWords=15, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


def _highlight(raw: str) -> str:
    """ts_headline output made safe: everything escaped, then our markers become <mark>."""
    escaped = html.escape(raw, quote=False)
    return escaped.replace(_HL_START, "<mark>").replace(_HL_STOP, "</mark>")


class BlogSearch(BlogBase):
    """Search (part of ``SqlBlogService``)."""

    async def search(
        self,
        session: AsyncSession,
        query: str,
        *,
        page: int = 1,
        per_page: int = 10,
        viewer_is_member: bool = False,
    ) -> SearchResults:
        """Published posts and pages matching ``query`` (web-search syntax), best first.

        Unless the viewer is a member, members-only items match, rank and are quoted by their
        title and excerpt only, so search never reveals what the paywall hides.
        """
        check_paging(page, per_page)
        query = clean_text(query)[:MAX_QUERY_CHARS]
        if not query:
            return SearchResults(query="", hits=(), page=1, per_page=per_page, total=0)
        tsquery = func.websearch_to_tsquery(literal("english", type_=REGCONFIG), query)
        # Match and rank only on what the viewer may read: a visitor's search never looks
        # at a members-only body (whether a phrase matched would show it word by word).
        vector = BlogPost.search if viewer_is_member else BlogPost.visitor_search
        matches = [*published(kind=None), vector.op("@@")(tsquery)]
        total = int(
            await session.scalar(select(func.count()).select_from(BlogPost).where(*matches)) or 0
        )
        if total == 0:
            return SearchResults(query=query, hits=(), page=page, per_page=per_page, total=0)
        rank = func.ts_rank(vector, tsquery)
        source = case(
            (
                or_(BlogPost.visibility == "public", literal(viewer_is_member)),
                BlogPost.plaintext,
            ),
            else_=func.coalesce(BlogPost.excerpt, ""),
        )
        ranked = (
            select(BlogPost.id, rank.label("rank"))
            .where(*matches)
            .order_by(rank.desc(), BlogPost.published_at.desc(), BlogPost.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
            .subquery()
        )
        # ts_headline is costly: run it on this page's rows only.
        # Same blanking of '<' and '>' as the search column (see shared.models.blog).
        headline = func.ts_headline(
            literal("english", type_=REGCONFIG),
            func.translate(source, "<>", "  "),
            tsquery,
            _HEADLINE_OPTIONS,
        )
        rows = (
            await session.execute(
                select(ranked.c.id, ranked.c.rank, headline)
                .join(BlogPost, BlogPost.id == ranked.c.id)
                .order_by(ranked.c.rank.desc())
            )
        ).all()
        posts = {
            p.id: p
            for p in await session.scalars(
                with_relations(select(BlogPost)).where(BlogPost.id.in_([r[0] for r in rows]))
            )
        }
        hits = []
        for post_id, post_rank, raw in rows:
            dto = post_dto(posts[post_id], viewer_is_member)
            snippet = _highlight(raw) if raw and _HL_START in raw else html.escape(dto.excerpt)
            hits.append(SearchHit(post=dto, rank=float(post_rank), snippet=snippet))
        return SearchResults(
            query=query, hits=tuple(hits), page=page, per_page=per_page, total=total
        )
