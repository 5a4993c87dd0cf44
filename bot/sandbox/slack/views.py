"""Modals and Home tabs in the stand-in: trigger ids, `views.open`/`push`/`update`/`publish`,
the view stack (at most three), and what a view submission's acknowledgement does
(`response_action`: close, clear, errors, update, push), as Slack's docs describe them."""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Mapping
from typing import Any

from bot.sandbox.slack.blockkit import validate_view
from bot.sandbox.slack.protocol import SlackError, fill_ids, refusal, text_arg
from bot.sandbox.slack.workspace import APP_ID, BOT_ID, SlackCall, SlackWorkspace, Trigger

TRIGGER_LIFETIME_S = 3.0
VIEW_STACK_LIMIT = 3


class ViewMethods(SlackWorkspace):
    """Views as Slack holds them, opened and changed through trigger ids and view ids."""

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """Open views (modals and Home tabs) by id, as Slack holds them now; read only."""
        return self._views

    def issue_trigger_id(self, user_id: str, *, view_id: str | None = None) -> str:
        """A fresh trigger id for an interaction of `user_id` (from within `view_id`, if any).

        It opens or pushes one view, within 3 s.
        """
        trigger_id = f"{next(self._ids)}.{self.team_id[1:] or '1'}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = Trigger(user_id, view_id, self._clock())
        return trigger_id

    def close_view(self, view_id: str) -> None:
        """The user closed the modal at `view_id` (and the views pushed on top of it).

        Later `views.update` calls for them answer `not_found`.
        """
        view = self._views.get(view_id)
        if view is None:
            raise KeyError(f"no open view {view_id!r}")
        root = str(view["root_view_id"])
        stack = self._stacks.get(root, [view_id])
        index = stack.index(view_id)
        closing, self._stacks[root] = stack[index:], stack[:index]
        if not self._stacks[root]:
            del self._stacks[root]
        for closed in closing:
            del self._views[closed]

    def _checked_view(
        self, args: Mapping[str, Any], kinds: tuple[str, ...], *, replacing: str | None = None
    ) -> dict[str, Any]:
        spec = args.get("view")
        if spec is None:
            raise refusal("invalid_arguments", ["missing required field: view"])
        errors = validate_view(spec)
        if not errors and spec.get("type") not in kinds:
            errors = [f"must be {' or '.join(kinds)} here [json-pointer:/view/type]"]
        if errors:
            raise refusal("invalid_arguments", errors)
        external_id = spec.get("external_id")
        if external_id and any(
            v["external_id"] == external_id and v["id"] != replacing for v in self._views.values()
        ):
            raise SlackError("duplicate_external_id")
        return dict(spec)

    def _exchange(self, args: Mapping[str, Any]) -> Trigger:
        trigger_id = text_arg(args, "trigger_id") or text_arg(args, "interactivity_pointer")
        trigger = self._triggers.get(trigger_id or "")
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self._clock() - trigger.issued > TRIGGER_LIFETIME_S:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _view_record(
        self, spec: Mapping[str, Any], view_id: str, *, root: str, previous: str | None
    ) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec["type"],
            "title": copy.deepcopy(spec.get("title")),
            "submit": copy.deepcopy(spec.get("submit")),
            "close": copy.deepcopy(spec.get("close")),
            "blocks": fill_ids(spec["blocks"], self._ids),
            "private_metadata": str(spec.get("private_metadata") or ""),
            "callback_id": str(spec.get("callback_id") or ""),
            "external_id": str(spec.get("external_id") or ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(spec.get("clear_on_close")),
            "notify_on_close": bool(spec.get("notify_on_close")),
            "previous_view_id": previous,
            "root_view_id": root,
            "app_id": APP_ID,
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }
        self._views[view_id] = view
        self._note_made_for(view_id)
        return view

    def _new_view_id(self) -> str:
        return f"V{next(self._ids):08d}"

    def _open_view(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        view_id = self._new_view_id()
        self._stacks[view_id] = [view_id]
        return self._view_record(spec, view_id, root=view_id, previous=None)

    def _push_view(self, below: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
        stack = self._stacks[str(below["root_view_id"])]
        if len(stack) >= VIEW_STACK_LIMIT:
            raise SlackError("push_limit_reached")
        view_id = self._new_view_id()
        view = self._view_record(spec, view_id, root=stack[0], previous=stack[-1])
        stack.append(view_id)
        return view

    def _replace_view(self, current: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
        state = current["state"]
        view = self._view_record(
            spec,
            str(current["id"]),
            root=str(current["root_view_id"]),
            previous=current["previous_view_id"],
        )
        view["state"] = state
        view["external_id"] = view["external_id"] or current["external_id"]
        return view

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        spec = self._checked_view(args, ("modal",))
        self._exchange(args)
        return {"view": copy.deepcopy(self._open_view(spec))}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        spec = self._checked_view(args, ("modal",))
        trigger = self._exchange(args)
        below = self._views.get(trigger.view_id or "")
        if below is None or below["type"] != "modal":
            raise SlackError("not_found")
        return {"view": copy.deepcopy(self._push_view(below, spec))}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = text_arg(args, "view_id"), text_arg(args, "external_id")
        if view_id is None and external_id is None:
            raise refusal("invalid_arguments", ["must provide view_id or external_id"])
        current = next(
            (
                view
                for view in self._views.values()
                if view["id"] == view_id or (external_id and view["external_id"] == external_id)
            ),
            None,
        )
        if current is None:
            raise SlackError("not_found")
        spec = self._checked_view(args, ("modal", "home"), replacing=str(current["id"]))
        return {"view": copy.deepcopy(self._replace_view(current, spec))}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = text_arg(args, "user_id")
        if user is None:
            raise refusal("invalid_arguments", ["missing required field: user_id"])
        view_id = self._homes.get(user) or self._new_view_id()
        spec = self._checked_view(args, ("home",), replacing=view_id)
        self._homes[user] = view_id
        view = self._view_record(spec, view_id, root=view_id, previous=None)
        return {"view": copy.deepcopy(view)}

    def _acknowledge_submission(self, view_id: str, body: dict[str, Any]) -> None:
        """A view submission's ack body: close, update, push, clear, or show errors."""
        try:
            self._apply_response_action(view_id, body)
            response: dict[str, Any] = {"ok": True}
        except SlackError as refusal:
            response = refusal.response
        self._record(SlackCall("ack", body, None, response))

    def _apply_response_action(self, view_id: str, body: dict[str, Any]) -> None:
        action = body.get("response_action")
        view = self._views.get(view_id)
        if view is None:
            raise SlackError("not_found")
        if action is None:
            self.close_view(view_id)
        elif action == "clear":
            self.close_view(str(view["root_view_id"]))
        elif action == "errors":
            errors = body.get("errors")
            if not isinstance(errors, dict) or not errors:
                raise refusal("invalid_arguments", ["must provide errors [json-pointer:/errors]"])
            inputs = {b.get("block_id") for b in view["blocks"] if b.get("type") == "input"}
            unknown = sorted(set(errors) - inputs)
            if unknown:
                messages = [f"no input block {key} [json-pointer:/errors/{key}]" for key in unknown]
                raise refusal("invalid_arguments", messages)
        elif action == "update":
            self._replace_view(view, self._checked_view(body, ("modal",), replacing=view_id))
        elif action == "push":
            self._push_view(view, self._checked_view(body, ("modal",)))
        else:
            raise refusal("invalid_arguments", ["unknown response_action"])
