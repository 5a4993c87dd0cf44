"""Who counts as a support agent: members of the support channel or of its user group, as Slack
says, remembered for a minute; and what the bot answers when Slack will not say."""

from __future__ import annotations

import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

SUPPORT_MEMBERS_TTL_S = 60.0


# conversations.members' answers when the bot may not read the support channel (its documented
# errors, and not_in_channel): a private channel it was never invited to is `channel_not_found`.
UNREADABLE_CHANNEL_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "fetch_members_failed",
        "method_not_supported_for_channel_type",
        "access_denied",
    }
)


class SupportUnreadable(Exception):
    """Who is in the support channel cannot be read; the message names the fix."""

    def __init__(self, channel: str, error: str) -> None:
        self.channel = channel
        self.error = error
        super().__init__(
            f"I cannot see who is in the support channel <#{channel}> (Slack says `{error}`): "
            f"invite the bot to <#{channel}> (`/invite @ecwid-connect` in that channel), "
            "or set SUPPORT_CHANNEL_ID to a channel it is in."
        )


class SupportTeam:
    """Who counts as a support agent: members of the support channel or of a user group.

    Membership is asked of Slack and remembered for a minute. When Slack will not say who is
    in the support channel, `is_agent` and `may_act` raise `SupportUnreadable`.
    """

    def __init__(
        self, channel: str | None, user_group: str | None, *, external_agents: bool = False
    ) -> None:
        self.channel = channel
        self.user_group = user_group
        self.external_agents = external_agents
        self._members: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")

    @property
    def configured(self) -> bool:
        return self.channel is not None

    async def is_agent(self, client: AsyncWebClient, user_id: str) -> bool:
        if time.monotonic() - self._fetched_at > SUPPORT_MEMBERS_TTL_S:
            self._members = await self._fetch(client)
            self._fetched_at = time.monotonic()
        return user_id in self._members

    async def may_act(
        self,
        client: AsyncWebClient,
        user_id: str,
        *,
        user_team: str | None,
        home_team: str | None,
    ) -> bool:
        """Whether `user_id` may use the support side (triage buttons): a support agent, and,
        unless SUPPORT_EXTERNAL_AGENTS is on, a member of the workspace that installed the bot
        (in a Slack Connect support channel, another organisation's members are members too)."""
        if not self.configured:
            return False
        external = bool(user_team and home_team and user_team != home_team)
        if external and not self.external_agents:
            return False
        return await self.is_agent(client, user_id)

    async def _fetch(self, client: AsyncWebClient) -> frozenset[str]:
        members: set[str] = set()
        if self.channel:
            cursor = None
            while True:
                try:
                    page = await client.conversations_members(
                        channel=self.channel, cursor=cursor, limit=1000
                    )
                except SlackApiError as error:
                    refusal = str(error.response.get("error") or "")
                    if refusal not in UNREADABLE_CHANNEL_ERRORS:
                        raise
                    raise SupportUnreadable(self.channel, refusal) from None
                members.update(page.get("members") or [])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        if self.user_group:
            try:
                group = await client.usergroups_users_list(usergroup=self.user_group)
                members.update(group.get("users") or [])
            except SlackApiError as error:
                if error.response.get("error") not in ("no_such_subteam", "missing_scope"):
                    raise
        return frozenset(members)
