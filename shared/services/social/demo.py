"""The social hub's demo seeder; the content is in demo.yaml beside it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ComposeInput
from shared.infrastructure.context import services
from shared.models import SocialStatus, User
from shared.services.domain import demo_content


async def seed_social(session: AsyncSession) -> None:
    """The social hub: Alice and Rosa on the fediverse, following each other, a few posts
    (one for followers only), a reply and a like, once."""
    content = demo_content(__file__)
    social = services().social
    users: dict[str, int] = dict((await session.execute(select(User.username, User.id))).all())
    members: list[str] = content["members"]
    if any(username not in users for username in members):
        return
    first = await social.account_for_member(session, users[members[0]])
    if await session.scalar(select(SocialStatus.id).where(SocialStatus.account_id == first.id)):
        return
    accounts = {members[0]: first.id}
    for username in members[1:]:
        accounts[username] = (await social.account_for_member(session, users[username])).id
    for follower, followed in content["follows"]:
        await social.follow(session, users[follower], accounts[followed])
    statuses: dict[str, int] = {}
    for step in content["activity"]:
        user_id = users[step["by"]]
        if "like" in step:
            await social.favourite(session, user_id, statuses[step["like"]])
            continue
        reply_to = step.get("in_reply_to")
        status = await social.compose(
            session,
            user_id,
            ComposeInput(
                text=step["post"],
                visibility=step.get("visibility", "public"),
                in_reply_to_id=statuses[reply_to] if reply_to else None,
            ),
        )
        if "key" in step:
            statuses[step["key"]] = status.id
