"""What the bot says in its direct messages (the app's Messages tab)."""

from __future__ import annotations

import copy

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject

from handlers.blocks.check import guide_message
from handlers.blocks.common import Blocks, as_dicts, mrkdwn_section

_DM_HINT = (
    ":speech_balloon: You can also send me the URL right here: only you and I see our direct "
    "messages, though Slack keeps them in this conversation's history. The form leaves no trace."
)


def dm_guide_message(problem: str | None = None) -> tuple[str, Blocks]:
    """The guide, for a DM: it may take the URL as a message; `problem` says first what was
    wrong with what was sent (never quoting it)."""
    text, blocks = guide_message()
    blocks = copy.deepcopy(blocks)
    # Before the buttons, the guide's last block.
    blocks[-1:-1] = as_dicts([ContextBlock(elements=[MarkdownTextObject(text=_DM_HINT)])])
    if problem is not None:
        blocks[:0] = as_dicts([mrkdwn_section(f":warning: {problem}")])
        text = f"{problem}\n{text}"
    return text, blocks


def dm_paste_note(*, url: bool) -> str:
    """After a check of something pasted in the DM: where it stays, and the milder advice."""
    what = "the Personal collection URL" if url else "the Store ID and token"
    return (
        f":lock: You sent {what} in our direct messages: only you and I see it here, but Slack "
        "keeps it in this conversation's history"
        + (" (and fetched the link once to preview it)" if url else "")
        + ". No need to act now; the form behind *Paste the URL* leaves no trace next time. "
        "After the migration, disconnect the API Playground app in your Ecwid admin "
        f"(Apps → My Apps) so that {'the URL' if url else 'the token'} stops working."
    )
