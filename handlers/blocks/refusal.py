"""What the bot says, privately, when Slack refuses to let it post where it was asked.

The reasons are chat.postMessage's documented refusals; each names what would fix it.
"""

from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject

from handlers.blocks.common import Blocks, as_dicts

_REASONS = {
    "not_in_channel": "I am not a member of {where}: invite me there (`/invite @ecwid-connect`)",
    "channel_not_found": "I cannot see {where} (a private conversation I am not part of): "
    "invite me there, or use my App Home",
    "is_archived": "{where} is archived",
    "restricted_action": "a workspace setting keeps me from posting in {where}; a Slack admin "
    "can change it",
    "restricted_action_read_only_channel": "{where} is read-only: only its admins may post there",
    "restricted_action_thread_only_channel": "{where} takes replies in threads only: use the "
    "guide's button inside a thread there",
    "ekm_access_denied": "your workspace's administrators have suspended posting in {where}",
}


def privately_because(refusal: str, channel: str) -> str:
    """Why this answer is only for you: Slack's refusal `refusal`, in words, with the fix."""
    where = "this conversation" if channel.startswith(("D", "U", "W")) else f"<#{channel}>"
    reason = _REASONS.get(refusal, "Slack did not let me post in {where}").format(where=where)
    return f":lock: Only you can see this: {reason}."


def private_copy(
    refusal: str, channel: str, text: str, blocks: Blocks | None
) -> tuple[str, Blocks | None]:
    """A message the bot could not post, for the requester alone, with why on top."""
    why = privately_because(refusal, channel)
    if not blocks:
        return f"{why}\n{text}", None
    note = as_dicts([ContextBlock(elements=[MarkdownTextObject(text=why)])])
    return f"{why}\n{text}", note + blocks
