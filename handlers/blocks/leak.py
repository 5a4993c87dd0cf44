"""What the leak guard says: the private warning to whoever pasted a secret in a channel, what
follows a click on its button, and the short note for the support channel.

None of it ever holds the secret, masked or not: only what kind of secret it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, MarkdownTextObject

from bot.engine.leaks import SecretKind
from handlers.blocks.common import Blocks, as_dicts, mrkdwn_section, slack_date

CHECK_HELD_ACTION = "leak_check_privately"
PASTE_PRIVATELY_ACTION = "leak_paste_privately"

_WHAT = {
    SecretKind.COLLECTION_URL: "the Personal collection URL",
    SecretKind.TOKEN: "an Ecwid access token",
    SecretKind.STORE_AND_TOKEN: "a store ID with its access token",
}


def _what(kinds: Sequence[SecretKind]) -> str:
    """The secrets in words, the first kind leading: "the Personal collection URL"."""
    return " and ".join(_WHAT[kind] for kind in kinds)


def _who_sees(*, shared_externally: bool) -> str:
    if shared_externally:
        return (
            "This channel is shared with another organisation (Slack Connect): everyone in it, "
            "*the other company's people included*, can see your message"
        )
    return "Everyone in this channel can see your message"


def leak_warning(
    kinds: Sequence[SecretKind], *, shared_externally: bool, hold_id: str | None, checkable: bool
) -> tuple[str, Blocks]:
    """The ephemeral warning to the author of a message holding `kinds` of secret.

    `hold_id`: what was pasted is held (encrypted, for minutes) under that ID, and the button
    checks it; None: the button opens the private form instead (`checkable` says whether what
    was pasted could have been checked as it is, to say why the form is needed)."""
    what = _what(kinds)
    url = SecretKind.COLLECTION_URL in kinds
    headline = (
        f":rotating_light: *Your message holds {what}: that is a password to your Ecwid store.* "
        "Whoever has it can read your orders, your customers and their addresses."
    )
    preview = " Slack has also opened the link to preview it." if url else ""
    exposure = f"{_who_sees(shared_externally=shared_externally)}, and Slack keeps it in the "
    exposure += f"channel's history.{preview}"
    delete = (
        "*1. Delete it now:* hover over your message, click *⋮ More actions* → *Delete message*."
    )
    renew = (
        "*2. Then make it useless:* in your Ecwid admin, open *Apps → My Apps*, find the "
        "*API Playground* (or the custom app the token belongs to) and disconnect it. Connect it "
        "again (API Playground → *Connect with Ecwid*) to get a new "
        + ("URL" if url else "token")
        + ": the old one stops working for everyone."
    )
    if hold_id is not None:
        button = ButtonElement(
            text="Check it privately", action_id=CHECK_HELD_ACTION, value=hold_id
        )
        how = (
            "The check's answer comes to you alone, in our direct messages; nothing is posted "
            "here. What you pasted is kept encrypted for a few minutes for it, then deleted."
        )
    else:
        button = ButtonElement(text="Check privately", action_id=PASTE_PRIVATELY_ACTION)
        how = (
            "I keep nothing of what you pasted, so the button opens a private form: paste it "
            "there"
            + ("" if checkable else ", with your store ID")
            + ". The form leaves no trace in Slack, and the answer comes to you alone."
        )
    text = f"Your message holds {what}: a password to your Ecwid store. Delete it, then renew it."
    blocks = as_dicts(
        [
            mrkdwn_section(headline),
            mrkdwn_section(exposure),
            mrkdwn_section(f"{delete}\n{renew}"),
            ActionsBlock(elements=[button]),
            ContextBlock(
                elements=[MarkdownTextObject(text=f":lock: Only you can see this. {how}")]
            ),
        ]
    )
    return text, blocks


def private_check_started() -> str:
    """After a click on "Check it privately": where the answer will be."""
    return (
        ":lock: Checking privately: the answer comes in our direct messages, for you alone. "
        "Delete the message in the channel if you have not yet."
    )


def support_leak_note(
    author: str,
    channel: str,
    permalink: str | None,
    when: datetime,
    kinds: Sequence[SecretKind],
    *,
    shared_externally: bool,
) -> tuple[str, Blocks]:
    """For the support channel: who pasted what kind of secret where and when, no secret."""
    where = f"<#{channel}>" + (f" (<{permalink}|the message>)" if permalink else "")
    why = (
        "a Slack Connect channel: another organisation can read it"
        if shared_externally
        else "they are not in the support team"
    )
    text = (
        f":closed_lock_with_key: <@{author}> pasted {_what(kinds)} in {where}, "
        f"{slack_date(when)} ({why}). They were told privately how to delete it and make it "
        "useless; follow up with them until it is renewed."
    )
    return text, as_dicts([mrkdwn_section(text)])
