"""Posts on the fediverse: whenever a write changes what the public can read, the blog's
actor publishes a ``Create``, ``Update`` or ``Delete`` of an ``Article`` through the
FederationService, in the caller's transaction (the transactional outbox: the activity exists
exactly when the change committed). Only public posts are federated: pages are not news,
drafts and scheduled posts are not live yet, and a members-only post is withdrawn rather than
teased (see :meth:`BlogFediverse._federate`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ApObjectDTO, ArticleDTO, HashtagDTO, PostDTO
from shared.infrastructure.sanitize import link_products
from shared.models.blog import BlogPost
from shared.services.blog._common import ACTOR
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

    def _article(self, post: BlogPost, dto: PostDTO) -> ApObjectDTO:
        assert post.ap_object_uri is not None
        assert dto.published_at is not None  # a published post is dated (dated_when_live)
        return self.federation.article(
            ACTOR,
            ArticleDTO(
                id=post.ap_object_uri,
                name=dto.title,
                summary=dto.excerpt,
                content=link_products(dto.html, self.market_url, self.events_url),
                url=f"{self.public_url}/posts/{dto.slug}",
                published=dto.published_at,
                tags=tuple(HashtagDTO(t.name, f"{self.public_url}/tag/{t.slug}") for t in dto.tags),
            ),
        )
