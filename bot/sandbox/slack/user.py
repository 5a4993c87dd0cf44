"""A simulated person in Slack: `SlackUser` sends the bot signed slash commands, button clicks,
view submissions, shortcuts and events, exactly as Slack would, and applies the bot's
acknowledgements (`response_action`, slash-command replies) to the `FakeSlack`.

Over 400 lines, yet one thing: every kind of request a person's clicks and typing make Slack
send, each built as Slack builds it.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any, Self

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.slack.blockkit import PICKED_KEYS, TEXT_INPUTS
from bot.sandbox.slack.protocol import interactive_elements
from bot.sandbox.slack.transcript import initial_text
from bot.sandbox.slack.webapi import FakeSlack
from bot.sandbox.slack.workspace import APP_ID

_TEAM_DOMAIN = "fake-team"
_ENTERPRISE_NAME = "Fake Org"
_VERIFICATION_TOKEN = "fake-verification-token"
_RETRY_REASON = "http_timeout"
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def sign(body: bytes, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request-signing headers for `body` (timestamp: now)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=stamp, body=body)
    if signature is None:
        raise RuntimeError("slack_sdk made no signature")
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


class SlackUser:
    """A person in the workspace: sends the bot at `bot_url` what Slack sends on their behalf.

    Every request is signed with `signing_secret`. Like Slack, it waits `ack_timeout` s for
    the bot's answer (httpx raises `TimeoutException` past it), then applies the answer to
    `slack`: a slash command's reply is shown, a view submission's `response_action` done.
    Trigger ids and response URLs come from `slack`; `last_trigger_id` is the latest one
    (empty before the first interaction).
    """

    def __init__(
        self,
        bot_url: str,
        signing_secret: str,
        slack: FakeSlack,
        *,
        user_id: str = "U123",
        user_name: str = "jane",
        team_id: str = "T0001",
        client: httpx.AsyncClient | None = None,
        ack_timeout: float = 3.0,
        enterprise_id: str | None = None,
    ) -> None:
        self.bot_url = bot_url
        self.user_id = user_id
        self.user_name = user_name
        self.team_id = team_id
        self.last_trigger_id = ""
        self._secret = signing_secret
        self._slack = slack
        self._client = client or httpx.AsyncClient()
        self._owns_client = client is None
        self._ack_timeout = ack_timeout
        #: Set: the app is installed for the whole Enterprise Grid organisation `enterprise_id`,
        #: and Slack's payloads say so (`is_enterprise_install`, `enterprise`, `team` null).
        self.enterprise_id = enterprise_id
        slack.add_user(user_id, user_name)

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was passed in."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def slash_command(
        self, command: str, text: str, *, channel_id: str = "C111"
    ) -> httpx.Response:
        """Run `/command text` in `channel_id` (slash commands cannot run in threads)."""
        response_url = self._slack.new_response_url(channel=channel_id, user=self.user_id)
        form = {
            "token": _VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": _TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": self._slack.channel_name(channel_id),
            "user_id": self.user_id,
            "user_name": self.user_name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self._trigger(),
        }
        if self.enterprise_id is not None:
            form |= {
                "enterprise_id": self.enterprise_id,
                "enterprise_name": _ENTERPRISE_NAME,
                "is_enterprise_install": "true",
            }
        response = await self._post(urllib.parse.urlencode(form).encode(), _FORM)
        body = _ack_body(response)
        if response.status_code == 200 and body:
            self._slack._acknowledge_message(response_url, body)
        return response

    async def click_button(
        self,
        message_or_view: Mapping[str, Any],
        action_id: str,
        *,
        channel_id: str | None = None,
        value: str | None = None,
    ) -> httpx.Response:
        """Click the button `action_id` in a message or a view, as it is now in `slack`.

        `value` overrides the button's own value; `channel_id` is needed only for a message
        `slack` never saw.
        """
        payload: dict[str, Any] = {"type": "block_actions", **self._envelope()}
        if message_or_view.get("type") in ("modal", "home"):
            view = self._open_view(str(message_or_view.get("id")))
            blocks = view["blocks"]
            payload.update(
                container={"type": "view", "view_id": view["id"]},
                view=view,
                trigger_id=self._trigger(view_id=str(view["id"])),
            )
        else:
            ts = str(message_or_view["ts"])
            located = self._slack._locate(ts)
            if located is not None:
                seen_in, message, ephemeral = located
                channel = channel_id or seen_in
            elif channel_id is not None:
                channel, message, ephemeral = channel_id, dict(message_or_view), False
            else:
                raise ValueError("give channel_id for a message FakeSlack has not seen")
            blocks = message.get("blocks") or []
            container: dict[str, Any] = {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            }
            if message.get("thread_ts"):
                container["thread_ts"] = message["thread_ts"]
            payload.update(
                container=container,
                channel={"id": channel, "name": self._slack.channel_name(channel)},
                trigger_id=self._trigger(),
                response_url=self._slack.new_response_url(
                    channel=channel, user=self.user_id, message_ts=ts, ephemeral=ephemeral
                ),
                state={"values": {}},
            )
            if not ephemeral:
                message.pop("recipient", None)
                payload["message"] = message
        block_id, button = _find_button(blocks, action_id)
        action: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": button.get("text"),
            "action_ts": f"{time.time():.6f}",
        }
        if value is not None or button.get("value") is not None:
            action["value"] = value if value is not None else button["value"]
        if button.get("style"):
            action["style"] = button["style"]
        payload["actions"] = [action]
        made = str(message_or_view.get("id") if "view" in payload else message_or_view["ts"])
        payload.update(self._slack.function_context(made))
        return await self._post_payload(payload)

    async def submit_view(self, view_id: str, values: dict[str, dict[str, str]]) -> httpx.Response:
        """Type `values` (`{block_id: {action_id: text}}`) into the modal and press submit.

        Select menus take the option's value. Raises ValueError for an input the view lacks or
        a required input left empty (the Slack client would not submit). The bot's ack is then
        applied: no `response_action` closes the view, `update`/`push`/`clear`/`errors` act.
        """
        view = self._open_view(view_id)
        view["state"] = {"values": state_values(view["blocks"], values)}
        self._slack.views[view_id]["state"] = copy.deepcopy(view["state"])
        payload = {
            "type": "view_submission",
            **self._envelope(),
            "trigger_id": self._trigger(view_id=view_id),
            "view": view,
            "response_urls": [],
            **self._slack.function_context(view_id),
        }
        response = await self._post_payload(payload)
        if response.status_code == 200:
            self._slack._acknowledge_submission(view_id, _ack_body(response))
        return response

    async def close_modal(self, view_id: str) -> httpx.Response | None:
        """Close the modal; tell the bot (`view_closed`) only if it asked (`notify_on_close`).

        With `clear_on_close` the whole stack of views closes, else this view and those above.
        """
        view = self._open_view(view_id)
        cleared = bool(view.get("clear_on_close"))
        self._slack.close_view(str(view["root_view_id"]) if cleared else view_id)
        if not view.get("notify_on_close"):
            return None
        payload = {"type": "view_closed", **self._envelope(), "view": view, "is_cleared": cleared}
        return await self._post_payload(payload)

    async def message_shortcut(
        self, callback_id: str, message: Mapping[str, Any], *, channel_id: str
    ) -> httpx.Response:
        """Run the message shortcut `callback_id` on `message` in `channel_id`."""
        payload = {
            "type": "message_action",
            **self._envelope(),
            "callback_id": callback_id,
            "trigger_id": self._trigger(),
            "action_ts": f"{time.time():.6f}",
            "channel": {"id": channel_id, "name": self._slack.channel_name(channel_id)},
            "message_ts": message["ts"],
            "message": dict(message),
            "response_url": self._slack.new_response_url(channel=channel_id, user=self.user_id),
        }
        return await self._post_payload(payload)

    async def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> httpx.Response:
        """Deliver `event` in an `event_callback` envelope; `retry_num` marks a redelivery."""
        return await self.send_event_body(
            self._event_envelope(event, event_id=event_id), retry_num=retry_num
        )

    async def send_event_body(
        self, body: Mapping[str, Any], *, retry_num: int | None = None
    ) -> httpx.Response:
        """Deliver a whole Events API body as it is (a recorded payload), signed."""
        headers = {"Content-Type": "application/json"}
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": _RETRY_REASON}
        return await self._post(json.dumps(body).encode(), headers)

    async def send_payload(self, payload: Mapping[str, Any]) -> httpx.Response:
        """Deliver an interactive payload as it is (a recorded one), as `payload=` form, signed."""
        return await self._post_payload(payload)

    async def send_dm(self, text: str, *, thread_ts: str | None = None) -> httpx.Response:
        """Write `text` to the bot in its Messages tab: Slack sends `message.im`."""
        channel = self._slack.open_dm(self.user_id)
        message = self._slack.post_user_message(channel, self.user_id, text, thread_ts=thread_ts)
        event = {**message, "channel": channel, "event_ts": message["ts"], "channel_type": "im"}
        return await self.send_event(event)

    def _event_envelope(self, event: dict[str, Any], *, event_id: str | None) -> dict[str, Any]:
        org_wide = self.enterprise_id is not None
        envelope = {
            "token": _VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(time.time()),
            # On an org-wide install the authorization names the organisation, not a workspace
            # (bolt-python tests/scenario_tests_async/test_events_say_stream.py).
            "authorizations": [
                {
                    "enterprise_id": self.enterprise_id,
                    "team_id": None if org_wide else self.team_id,
                    "user_id": self._slack.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": org_wide,
                }
            ],
            "is_ext_shared_channel": False,
        }
        if org_wide:
            envelope["enterprise_id"] = self.enterprise_id
        return envelope

    async def reply(self, text: str, *, channel_id: str, thread_ts: str) -> httpx.Response:
        """Write `text` in the thread `thread_ts` of the public channel `channel_id`: Slack sends
        `message.channels` to an app in the channel."""
        message = self._slack.post_user_message(channel_id, self.user_id, text, thread_ts=thread_ts)
        event = {**message, "channel": channel_id, "event_ts": message["ts"]}
        return await self.send_event({**event, "channel_type": "channel"})

    async def mention(
        self, text: str, *, channel_id: str, thread_ts: str | None = None
    ) -> httpx.Response:
        """Write `@bot text` in `channel_id` (in the thread `thread_ts`): an `app_mention`."""
        message = self._slack.post_user_message(
            channel_id, self.user_id, f"<@{self._slack.bot_user_id}> {text}", thread_ts=thread_ts
        )
        event = {**message, "type": "app_mention", "channel": channel_id, "event_ts": message["ts"]}
        return await self.send_event(event)

    async def edit_mention(
        self, message: Mapping[str, Any], text: str, *, channel_id: str
    ) -> httpx.Response:
        """Edit a message of theirs that mentions the bot: Slack changes it and sends
        `app_mention` again, with `edited` and a new event_id."""
        edited = self._slack.edit_user_message(
            channel_id, str(message["ts"]), f"<@{self._slack.bot_user_id}> {text}"
        )
        event = {**edited, "type": "app_mention", "channel": channel_id, "event_ts": edited["ts"]}
        return await self.send_event(event)

    def _trigger(self, *, view_id: str | None = None) -> str:
        self.last_trigger_id = self._slack.issue_trigger_id(self.user_id, view_id=view_id)
        return self.last_trigger_id

    def _open_view(self, view_id: str) -> dict[str, Any]:
        view = self._slack.views.get(view_id)
        if view is None:
            raise ValueError(f"view {view_id!r} is not open")
        return copy.deepcopy(view)

    def _envelope(self) -> dict[str, Any]:
        return {
            "user": {
                "id": self.user_id,
                "username": self.user_name,
                "name": self.user_name,
                "team_id": self.team_id,
            },
            "team": {"id": self.team_id, "domain": _TEAM_DOMAIN},
            "api_app_id": APP_ID,
            "token": _VERIFICATION_TOKEN,
            "is_enterprise_install": False,
            "enterprise": None,
        } | self._organisation()

    def _organisation(self) -> dict[str, Any]:
        """An org-wide install's interactive payloads: `team` can be null, `enterprise` set."""
        if self.enterprise_id is None:
            return {}
        return {
            "team": None,
            "enterprise": {"id": self.enterprise_id, "name": _ENTERPRISE_NAME},
            "is_enterprise_install": True,
        }

    async def _post_payload(self, payload: Mapping[str, Any]) -> httpx.Response:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return await self._post(body, _FORM)

    async def _post(self, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        signed = {**headers, **sign(body, self._secret), "User-Agent": _SLACK_USER_AGENT}
        return await self._client.post(
            self.bot_url, content=body, headers=signed, timeout=self._ack_timeout
        )


def _ack_body(response: httpx.Response) -> dict[str, Any]:
    """The bot's ack as Slack reads it: JSON, or plain text shown as a message."""
    if not response.content.strip():
        return {}
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        return body if isinstance(body, dict) else {}
    return {"text": response.text}


def _find_button(blocks: list[Any], action_id: str) -> tuple[str, dict[str, Any]]:
    seen: list[str] = []
    for block in blocks:
        for element in interactive_elements(block):
            if isinstance(element, dict) and element.get("type") == "button":
                if element.get("action_id") == action_id:
                    return str(block.get("block_id")), element
                seen.append(str(element.get("action_id")))
    raise ValueError(f"no button {action_id!r}; buttons: {', '.join(seen) or 'none'}")


def state_values(blocks: list[Any], typed: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """`view.state.values` as Slack sends it, with `typed` entered into the input blocks."""
    values: dict[str, Any] = {}
    remaining = {(block_id, action_id) for block_id, row in typed.items() for action_id in row}
    for block in blocks:
        element = block.get("element")
        if block.get("type") != "input" or not isinstance(element, dict):
            continue
        block_id, action_id = str(block["block_id"]), str(element["action_id"])
        text = typed.get(block_id, {}).get(action_id)
        remaining.discard((block_id, action_id))
        if text is None and not block.get("optional") and initial_text(element) == "":
            raise ValueError(f"input {block_id}/{action_id} is required but left empty")
        values[block_id] = {action_id: _element_state(element, text)}
    if remaining:
        missing = ", ".join(f"{block_id}/{action_id}" for block_id, action_id in sorted(remaining))
        raise ValueError(f"the view has no input {missing}")
    return values


def _element_state(element: Mapping[str, Any], text: str | None) -> dict[str, Any]:
    kind = str(element.get("type"))
    if kind in TEXT_INPUTS:
        return {"type": kind, "value": text if text is not None else element.get("initial_value")}
    if kind in ("static_select", "radio_buttons"):
        if text is None:
            return {"type": kind, "selected_option": element.get("initial_option")}
        options = [o for o in element.get("options") or () if o.get("value") == text]
        if not options:
            raise ValueError(f"no option {text!r} in {element.get('action_id')}")
        return {"type": kind, "selected_option": options[0]}
    if kind in PICKED_KEYS:
        return {"type": kind, PICKED_KEYS[kind]: text}
    raise ValueError(f"SlackUser cannot fill a {kind} input")
