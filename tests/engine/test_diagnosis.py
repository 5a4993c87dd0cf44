"""Every diagnosis carries every fact the code reads about it, and its words: a code that forgets
one fails here, rather than falling back to "connected" or to no cool-down."""

from __future__ import annotations

import dataclasses

import pytest

from bot.engine.catalogue import CATALOGUE
from bot.engine.diagnosis import FACTS, Diagnosis, DiagnosisFacts, Entity, Stage

# Written from what each fix needs, not read from the table: the store owner can fix these
# without a new URL (a plan, a suspension, a wait), so the bot keeps checking on its own.
FOLLOWED_UP = {
    Diagnosis.PLAN_FREE,
    Diagnosis.PLAN_LIMITED,
    Diagnosis.STORE_SUSPENDED,
    Diagnosis.RATE_LIMITED,
    Diagnosis.ECWID_UNAVAILABLE,
    Diagnosis.COLLECTION_UNREACHABLE,
    Diagnosis.CHECK_TIMEOUT,
}
# Ecwid counts requests with these towards blocking the token and the bot's address.
BLAMES_TOKEN = {
    Diagnosis.TOKEN_INVALID,
    Diagnosis.PLAN_FREE,
    Diagnosis.STORE_SUSPENDED,
    Diagnosis.STORE_NOT_FOUND,
}
# When a check finds several of Ecwid's, the one told: what to fix first.
ECWID_PRECEDENCE = [
    Diagnosis.STORE_SUSPENDED,
    Diagnosis.PLAN_FREE,
    Diagnosis.TOKEN_INVALID,
    Diagnosis.STORE_NOT_FOUND,
    Diagnosis.PLAN_LIMITED,
    Diagnosis.TOKEN_PUBLIC,
    Diagnosis.SCOPE_MISSING,
    Diagnosis.RATE_LIMITED,
    Diagnosis.ECWID_UNAVAILABLE,
]


@pytest.mark.parametrize("diagnosis", list(Diagnosis), ids=str)
def test_every_diagnosis_has_all_its_facts(diagnosis: Diagnosis) -> None:
    facts = FACTS.get(diagnosis)

    assert isinstance(facts, DiagnosisFacts), f"give {diagnosis.value} its row in FACTS"
    for field in dataclasses.fields(DiagnosisFacts):
        value = getattr(facts, field.name)
        assert value is not None or field.name == "count_shows", (diagnosis, field.name)


@pytest.mark.parametrize("diagnosis", list(Diagnosis), ids=str)
def test_every_diagnosis_has_its_words(diagnosis: Diagnosis) -> None:
    entry = CATALOGUE[diagnosis]

    assert entry.title
    assert entry.summary
    assert entry.tips


def test_no_two_diagnoses_share_a_rank() -> None:
    ranks = [diagnosis.rank for diagnosis in Diagnosis]

    assert len(set(ranks)) == len(ranks)


def test_whatever_was_found_outranks_connected() -> None:
    assert max(Diagnosis, key=lambda diagnosis: diagnosis.rank) is Diagnosis.OK


def test_ecwid_answers_are_told_in_the_order_they_should_be_fixed() -> None:
    found = [diagnosis for diagnosis in Diagnosis if diagnosis.facts.stage is Stage.ECWID]

    assert sorted(found, key=lambda diagnosis: diagnosis.rank)[:-1] == ECWID_PRECEDENCE


@pytest.mark.parametrize("diagnosis", list(Diagnosis), ids=str)
def test_the_bot_follows_up_only_what_is_fixed_without_a_new_url(diagnosis: Diagnosis) -> None:
    assert diagnosis.follows_up is (diagnosis in FOLLOWED_UP)


@pytest.mark.parametrize("diagnosis", list(Diagnosis), ids=str)
def test_only_a_token_or_store_that_does_not_work_blames_the_token(diagnosis: Diagnosis) -> None:
    assert diagnosis.blames_token is (diagnosis in BLAMES_TOKEN)


@pytest.mark.parametrize("diagnosis", list(Diagnosis), ids=str)
def test_each_of_ecwids_refusals_says_what_a_count_shows(diagnosis: Diagnosis) -> None:
    if diagnosis.facts.stage is not Stage.ECWID or diagnosis is Diagnosis.OK:
        with pytest.raises(ValueError, match="never Ecwid's answer to a count"):
            diagnosis.count_shows(Entity.ORDERS)
        return

    shows = diagnosis.count_shows(Entity.ORDERS)

    assert shows
    assert "{" not in shows


def test_a_missing_scope_names_the_scope_in_the_count() -> None:
    assert Diagnosis.SCOPE_MISSING.count_shows(Entity.CUSTOMERS) == (
        "the token lacks the read_customers scope"
    )


def test_paste_problems_are_the_input_problems() -> None:
    assert {d for d in Diagnosis if d.is_input_problem} == {
        Diagnosis.URL_EMPTY,
        Diagnosis.URL_TOKEN_ONLY,
        Diagnosis.URL_PLAYGROUND_PAGE,
        Diagnosis.URL_ADMIN_PAGE,
        Diagnosis.URL_TRUNCATED,
        Diagnosis.URL_NOT_COLLECTION,
        Diagnosis.STORE_ID_INVALID,
        Diagnosis.TOKEN_MALFORMED,
    }
