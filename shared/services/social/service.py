"""The social hub (implements :class:`shared.contracts.SocialService`): members'
fediverse accounts, follows, timelines, posts, likes, boosts and notifications.

Every member has an account here (made with its keypair on first need). What a member does
that other servers must hear of is written to ``ap_activities`` in the same transaction, with
``actor_account_id`` set, and the OutboxProcessor delivers it signed with the member's key
(exactly one delivery per inbox). Local followers need no delivery: timelines are read from
``social_statuses``, where members' own posts and those received from remote accounts that a
member follows (or that mention or answer a member) both live.

Who may see a post is one SQL condition that every page and collection goes through
(:func:`shared.services.social._common.visible_to`, whose docstring states the rule).

The service is one object made of one class per section, each in a module of this package
and each building on the sections it uses:

- ``_base``: the settings, rows as DTOs, the outbox, notifying, fetching (``_common``: the
  helpers and SQL rules the sections share);
- ``media``: uploaded images; ``accounts``: members' accounts and profiles;
  ``remote_accounts``: finding accounts and mirroring remote ones;
- ``follows``; ``statuses`` (writing posts) and ``interactions`` (likes, boosts);
  ``timelines`` and ``notifications`` (reading);
- ``inbox``: inbound activities; ``moderation``: blocks, reports, suspensions, domain blocks;
  ``remote_blocks``: blocks sent to and received from other servers; ``moves``: aliases,
  moving away and ``Move`` received; ``personal_data``: export and erasure.
"""

from __future__ import annotations

from shared.services.social.inbox import SocialInbox
from shared.services.social.moderation import SocialModeration
from shared.services.social.notifications import SocialNotifications
from shared.services.social.personal_data import SocialPersonalData
from shared.services.social.statuses import SocialStatuses
from shared.services.social.timelines import SocialTimelines


class SqlSocialService(
    SocialStatuses,
    SocialTimelines,
    SocialNotifications,
    SocialInbox,
    SocialModeration,
    SocialPersonalData,
):
    """Implements :class:`shared.contracts.SocialService` on PostgreSQL."""
