"""Every token form Ecwid has issued (`secret_`, `public_`, `secure_` in older documents, legacy
tokens without prefix) is taken on every route alike: inside a collection, pasted on one line with
the store ID, typed into Store ID + token (Slack's modal, `--token` on the command line)."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.engine.check import ConnectionChecker
from bot.engine.diagnosis import Diagnosis
from bot.engine.errors import PasteError
from bot.engine.intake import CredentialsPaste, read_paste, read_store_credentials
from bot.engine.redaction import EcwidToken, mask_token, redact
from bot.sandbox.ecwid.server import EcwidSandbox
from bot.sandbox.ecwid.stores import SampleStore, sample_stores
from bot.settings import DEFAULT_COLLECTION_HOST, CollectionHost
from handlers.blocks.check import (
    STORE_ID_BLOCK,
    STORE_ID_INPUT,
    TOKEN_BLOCK,
    TOKEN_INPUT,
    URL_BLOCK,
    URL_INPUT,
)
from handlers.payload import Form
from handlers.views import read_submission

HOSTS = (CollectionHost.parse(DEFAULT_COLLECTION_HOST),)
# One sample store per token form, each connected (the public one is told it is public).
FORMS = {
    "secret_": "connected",
    "public_": "public_token",
    "secure_": "secure_token",
    "": "legacy_token",
}
STORES = {store.key: store for store in sample_stores()}
FORM_STORES = [STORES[key] for key in FORMS.values()]


def by_key(store: SampleStore) -> str:
    return store.key


def test_the_sample_tokens_have_each_form() -> None:
    for prefix, key in FORMS.items():
        token = STORES[key].token
        assert token.startswith(prefix)
        assert len(token) == len(prefix) + 32
    assert not any(
        STORES["legacy_token"].token.startswith(p) for p in ("secret_", "public_", "secure_")
    )


@pytest.mark.parametrize("store", FORM_STORES, ids=by_key)
@pytest.mark.parametrize(
    "layout", ["{id} {token}", "{id}, {token}", "{token} {id}", "#{id}: {token}"]
)
def test_one_line_paste_takes_every_form(store: SampleStore, layout: str) -> None:
    paste = read_paste(layout.format(id=store.store_id, token=store.token), HOSTS)

    assert paste == CredentialsPaste(
        read_store_credentials(str(store.store_id), store.token).credentials
    )


@pytest.mark.parametrize("store", FORM_STORES, ids=by_key)
def test_store_id_and_token_fields_take_every_form(store: SampleStore) -> None:
    direct = read_store_credentials(str(store.store_id), f"  Bearer {store.token}\n")
    values = {
        URL_BLOCK: {URL_INPUT: {"value": None}},
        STORE_ID_BLOCK: {STORE_ID_INPUT: {"value": str(store.store_id)}},
        TOKEN_BLOCK: {TOKEN_INPUT: {"value": store.token}},
    }
    modal = read_submission(Form({"state": {"values": values}}), HOSTS)

    assert direct.credentials.token == EcwidToken(store.token)
    assert modal == direct


@pytest.mark.parametrize("store", FORM_STORES, ids=by_key)
def test_a_bare_token_of_any_form_is_told_to_come_with_its_store_id(store: SampleStore) -> None:
    with pytest.raises(PasteError) as caught:
        read_paste(store.token, HOSTS)

    assert caught.value.diagnosis is Diagnosis.URL_TOKEN_ONLY
    assert ("public token" in caught.value.detail) is store.is_public_token


@pytest.mark.parametrize("store", FORM_STORES, ids=by_key)
async def test_every_route_reaches_the_same_verdict(
    sandbox: EcwidSandbox, checker: ConnectionChecker, store: SampleStore
) -> None:
    reports = [
        await checker.check_text(sandbox.collection_url(store.key)),
        await checker.check_text(f"{store.store_id} {store.token}"),
        await checker.check_store(str(store.store_id), store.token),
    ]

    assert [report.diagnosis for report in reports] == [store.expected] * 3
    assert {report.token for report in reports} == {mask_token(store.token)}


@pytest.mark.parametrize("store", FORM_STORES, ids=by_key)
async def test_the_command_lines_token_option_takes_every_form(
    sandbox: EcwidSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    store: SampleStore,
) -> None:
    monkeypatch.setenv("ECWID_API_URL", sandbox.api_url)
    monkeypatch.setenv("COLLECTION_HOSTS", sandbox.collection_host)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    monkeypatch.setattr(sys, "stdin", io.StringIO(store.token))

    code = await asyncio.to_thread(
        main, ["check", "--json", "--store-id", str(store.store_id), "--token", "-"]
    )
    output = capsys.readouterr().out

    assert f'"diagnosis": "{store.expected.value}"' in output
    assert code == (0 if store.expected is Diagnosis.OK else 1)
    assert store.token not in output


@pytest.mark.parametrize("prefix", ["secret_", "secure_", "public_"])
def test_every_prefixed_form_is_redacted_and_masked(prefix: str) -> None:
    token = prefix + "CANARY0123456789abcdefABCDEF0123"

    assert "CANARY" not in redact(f"checking {token} now")
    assert "CANARY" not in redact(f"'{token.upper()}'")
    assert mask_token(token) == f"{prefix}…0123"
