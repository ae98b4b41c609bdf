"""Posts on the fediverse: whenever a write changes what the public can read, the blog's
actor publishes a ``Create``, ``Update`` or ``Delete`` of an ``Article`` through the
FederationService, in the caller's transaction (the transactional outbox: the activity exists
exactly when the change committed). Only public posts are federated: pages are not news,
drafts and scheduled posts are not live yet, and a members-only post is withdrawn rather than
teased (see :meth:`BlogFediverse._federate`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ApObjectDTO, ArticleDTO, HashtagDTO, PostDTO
from shared.infrastructure.sanitize import link_products
from shared.models.blog import BlogPost
from shared.services.blog._common import ACTOR, published
from shared.services.blog.reading import BlogReading


def _federable(post: BlogPost) -> bool:
    """Whether ``post`` belongs on the fediverse right now."""
    return post.status == "published" and post.kind == "post" and post.visibility == "public"


class BlogFediverse(BlogReading):
    """Federating posts (part of ``SqlBlogService``)."""

    async def _federate(
        self, session: AsyncSession, post: BlogPost, *, changed: bool, deliver: bool = True
    ) -> PostDTO:
        """Bring the fediverse in line with ``post`` after a write; returns the post.

        A post that has become federable is announced (``Create``, under a fresh object id);
        a federated one whose content ``changed`` is re-sent (``Update``, same id); one that
        is no longer federable (unpublished, made members-only or a page) is withdrawn
        (``Delete``). ``deliver=False`` keeps a ``Create`` or ``Update`` in the outbox
        collection without sending it to followers (an old post imported from Ghost is not
        news). Members-only posts are never federated, not even as a teaser: whoever
        follows the blog from another server is not signed in as a member, a title they cannot
        open is noise in their timeline, and no copy of a members' text can then reach a
        server we do not control.
        """
        dto = await self.get_post(session, post.id)
        federated = post.ap_object_uri
        if _federable(post):
            if federated is None:
                post.ap_object_uri = self.federation.new_object_uri(ACTOR)
                await session.flush()
                await self.federation.publish(
                    session, ACTOR, "Create", self._article(post, dto), deliver=deliver
                )
            elif changed:
                await self.federation.publish(
                    session, ACTOR, "Update", self._article(post, dto), deliver=deliver
                )
        elif federated is not None:
            post.ap_object_uri = None
            await session.flush()
            await self.federation.publish(session, ACTOR, "Delete", federated)
        return dto

    async def activitypub_object(self, session: AsyncSession, slug: str) -> ApObjectDTO | None:
        """What a server asking for ActivityStreams gets at ``/posts/<slug>`` or
        ``/pages/<slug>`` (Mastodon's search by URL): a federated post's object as we published
        it, a public page as an ``Article`` under its own URL (pages are not news, so never
        sent to followers, but they can be looked up); nothing for a draft or a members-only
        post."""
        post = await session.scalar(
            select(BlogPost).where(BlogPost.slug == slug, *published(kind=None))
        )
        if post is None or post.visibility != "public":
            return None
        if post.kind == "post":
            if post.ap_object_uri is None:
                return None
            return await self.federation.object_by_uri(session, post.ap_object_uri)
        dto = await self.get_post(session, post.id)
        return self._article(post, dto, object_id=f"{self.public_url}/pages/{dto.slug}")

    def _article(
        self, post: BlogPost, dto: PostDTO, *, object_id: str | None = None
    ) -> ApObjectDTO:
        object_id = object_id or post.ap_object_uri
        assert object_id is not None
        assert dto.published_at is not None  # a published post is dated (dated_when_live)
        path = "posts" if post.kind == "post" else "pages"
        return self.federation.article(
            ACTOR,
            ArticleDTO(
                id=object_id,
                name=dto.title,
                summary=dto.excerpt,
                content=link_products(dto.html, self.market_url, self.events_url),
                url=f"{self.public_url}/{path}/{dto.slug}",
                published=dto.published_at,
                tags=tuple(HashtagDTO(t.name, f"{self.public_url}/tag/{t.slug}") for t in dto.tags),
            ),
        )
