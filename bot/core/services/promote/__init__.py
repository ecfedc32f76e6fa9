"""`/promote`: moderators put a course in front of an audience, after a preview.

Audiences: `channel:<id>` (one post, framed by what the channel talks about),
`segment:<id, name or rule>` (newcomers, recently_inactive, champions),
`top:<N>` (the N members most likely to want the course), `opted-in` (everyone who
accepted DMs). Direct messages only ever go to members who opted in to DMs; caps,
cooldowns and quiet hours apply (see `bot.core.delivery.policy`).

A preview (dry run) says how many are in the audience, how many each rule blocks,
and how many clicks to expect. Sending needs an explicit confirmation, is idempotent
for the same course, audience and day (a repeated confirm queues nothing new), and
is written to the audit log, as is every refused attempt.

One job per module: `plan` (what a promotion is), `audiences` (who it reaches),
`scoring` (the clicks to expect), `deliveries` (its outbox rows), `preview` (what
the moderator is shown), `audit` (drafts and the audit log), `suggestions` (while
typing) and `service` (`PromoteService`, which runs them in order).
"""

from bot.core.services.promote.audiences import RULES
from bot.core.services.promote.plan import Audience, ChannelNotWritable, Plan, PromotionError
from bot.core.services.promote.service import ChannelCheck, PromoteService

__all__ = [
    "RULES",
    "Audience",
    "ChannelCheck",
    "ChannelNotWritable",
    "Plan",
    "PromoteService",
    "PromotionError",
]
