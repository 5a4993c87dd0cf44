"""The words of the product: the guide to the Personal collection URL and, per diagnosis, its
title and the ordered steps that fix it. The command line and Slack render these same entries.

Placeholders in tips are filled from the report: {entities}, {scopes}, {wait}, {store_id}.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.diagnosis import Diagnosis, WarningCode

ADMIN_URL = "https://my.ecwid.com/"
API_PLAYGROUND_URL = "https://api-playground.ecwid.com/"
CUSTOM_APPS_URL = "https://my.ecwid.com/#develop-apps"
BILLING_URL = "https://my.ecwid.com/#billing"
ECWID_SUPPORT_URL = "https://support.ecwid.com/hc/en-us/requests/new"
# Ecwid's billing team switches a store onto its Suspension plan and back (support.ecwid.com,
# "Pausing your Ecwid store for maintenance").
ECWID_BILLING_EMAIL = "billing@ecwid.com"
COLLECTION_URL_FORMAT = (
    "https://ecwid-api-playground.s3.amazonaws.com/<numbers_and_letters>.json.postman_collection"
)
PAID_PLANS = ("Venture", "Business", "Unlimited")
PAID_PLAN_NAMES = ", ".join(PAID_PLANS[:-1]) + " or " + PAID_PLANS[-1]
"""The paid plans as a sentence names them: every answer that names them says this."""
PAID_PLAN_NOTE = (
    f"API access needs a paid Ecwid plan ({PAID_PLAN_NAMES}); it is not available on the Free plan."
)


@dataclass(frozen=True, slots=True)
class GuideStep:
    text: str
    link: str | None = None


GUIDE: tuple[GuideStep, ...] = (
    GuideStep("Log in to your Ecwid admin.", ADMIN_URL),
    GuideStep("In the same browser, open the Ecwid API Playground.", API_PLAYGROUND_URL),
    GuideStep('Click "Connect with Ecwid" and allow access; the "API Console" page opens.'),
    GuideStep(
        "Copy the URL shown in step 2 of that page (ignore its other steps). "
        f"It looks like {COLLECTION_URL_FORMAT}"
    ),
)
"""How to get the URL. Where to paste it depends on where the guide is read: each renderer
ends the guide with its own step (`GUIDE_PASTE_IN_SLACK`, `GUIDE_PASTE_IN_TERMINAL`)."""
GUIDE_PASTE_IN_SLACK = (
    'Click "Paste the URL" below and paste it in the form, or send it to me in a direct '
    "message. Never paste it in a channel: it is a password."
)
# In a workflow step only the form completes the step: a direct message would be checked apart.
GUIDE_PASTE_FOR_STEP = (
    'Click "Paste the URL" below and paste it in the form: the workflow goes on once it is '
    "checked. Never paste it in a channel or a message: it is a password."
)
GUIDE_PASTE_IN_TERMINAL = "Run `ecwid-connect check` and paste it when asked (it is not shown)."
GUIDE_OUTCOME = "The check takes a few seconds and tells you what will be migrated, or what to fix."


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    title: str
    summary: str
    tips: tuple[str, ...]


_GET_URL = (
    "Open the API Playground (https://api-playground.ecwid.com/) while logged in to your Ecwid "
    'admin, click "Connect with Ecwid" and copy the whole URL shown in step 2 of the API Console '
    "page."
)
_CHECK_AGAIN = "Paste it and check again."
CONTACT_MIGRATION = "Still stuck? Ask the migration team for help."
"""The tip that sends people to the migration team; a reply written by that team replaces it."""

CATALOGUE: dict[Diagnosis, CatalogueEntry] = {
    Diagnosis.OK: CatalogueEntry(
        "Connected: ready to migrate",
        "The migration service can read this store.",
        (
            "Nothing to fix. Keep the Personal collection URL private until the migration is done.",
            "After the migration, you can revoke access by disconnecting the API Playground app "
            "in your Ecwid admin (Apps → My Apps).",
        ),
    ),
    Diagnosis.URL_EMPTY: CatalogueEntry(
        "Nothing was pasted",
        "The field was empty.",
        (_GET_URL, _CHECK_AGAIN),
    ),
    Diagnosis.URL_TOKEN_ONLY: CatalogueEntry(
        "That is a token, not the collection URL",
        "You pasted an access token on its own; without the store ID it cannot be checked.",
        (
            "Paste the Personal collection URL instead: " + _GET_URL,
            "Or, if the token comes from a custom app, give the Store ID and the token instead "
            "(the form's second option): the Store ID is under Settings → General → Store "
            "profile in your Ecwid admin.",
        ),
    ),
    Diagnosis.URL_PLAYGROUND_PAGE: CatalogueEntry(
        "That is the API Playground page, not the collection URL",
        "You pasted the address of the API Playground page itself.",
        (
            'On that page, click "Connect with Ecwid" while logged in to your Ecwid admin.',
            "On the API Console page that opens, copy the URL shown in step 2 (ignore the other "
            f"steps). It looks like {COLLECTION_URL_FORMAT}",
            _CHECK_AGAIN,
        ),
    ),
    Diagnosis.URL_ADMIN_PAGE: CatalogueEntry(
        "That is an Ecwid admin page, not the collection URL",
        "You pasted the address of a page in your Ecwid control panel.",
        (_GET_URL, _CHECK_AGAIN),
    ),
    Diagnosis.URL_TRUNCATED: CatalogueEntry(
        "The collection URL is cut short",
        "The address points at Ecwid's collection storage but does not end in "
        "“.postman_collection”, so part of it is missing.",
        (
            _GET_URL + " All of it: it ends in “.json.postman_collection”.",
            "Triple-click the URL to select all of it; do not retype it.",
            _CHECK_AGAIN,
        ),
    ),
    Diagnosis.URL_NOT_COLLECTION: CatalogueEntry(
        "That is not a Personal collection URL",
        "What was pasted is not an address where Ecwid publishes Personal collections.",
        (_GET_URL, f"The right URL looks like {COLLECTION_URL_FORMAT}", _CHECK_AGAIN),
    ),
    Diagnosis.STORE_ID_INVALID: CatalogueEntry(
        "The Store ID is not valid",
        "A Store ID is a number, such as 12345678.",
        (
            "Find the Store ID in your Ecwid admin under Settings → General → Store profile, or "
            "at the bottom of any admin page.",
            "Type the digits only, then check again.",
        ),
    ),
    Diagnosis.TOKEN_MALFORMED: CatalogueEntry(
        "The token is not valid",
        "A secret token starts with “secret_”, followed by 32 letters and digits; older tokens "
        "start with “public_” or “secure_”, or have no prefix.",
        (
            f"In your Ecwid admin open your custom app ({CUSTOM_APPS_URL}), click "
            '"Show secret token" and copy it whole.',
            "Paste it and check again, or paste the Personal collection URL instead, which "
            "carries the token.",
        ),
    ),
    Diagnosis.COLLECTION_NOT_FOUND: CatalogueEntry(
        "The collection URL does not exist (any more)",
        "There is no file at this address: it was mistyped, cut short, or replaced by a newer one.",
        (
            _GET_URL,
            "Paste it and check again. If you connected more than once, use the newest URL.",
        ),
    ),
    Diagnosis.COLLECTION_UNREACHABLE: CatalogueEntry(
        "Ecwid's collection storage could not be reached",
        "The file could not be downloaded just now.",
        (
            "This is usually temporary: check again in a few minutes.",
            CONTACT_MIGRATION,
        ),
    ),
    Diagnosis.COLLECTION_INVALID: CatalogueEntry(
        "The file at that URL is not a Personal collection",
        "The address answered, but not with a Personal collection.",
        (
            "Make sure you copied the URL from step 2 of the API Console page, not another link: "
            + _GET_URL,
            CONTACT_MIGRATION,
        ),
    ),
    Diagnosis.CREDENTIALS_MISSING: CatalogueEntry(
        "The collection holds no store ID or token",
        "The file was found, but no Ecwid store ID or access token is in it.",
        (
            'Get a fresh one: open the API Playground, click "Connect with Ecwid" and copy the '
            "URL from step 2 again. Paste it and check again.",
            "Or give the Store ID and secret token of a custom app instead.",
            CONTACT_MIGRATION,
        ),
    ),
    Diagnosis.PLAN_FREE: CatalogueEntry(
        "API access needs a paid Ecwid plan",
        "The store is on the Free plan, and Ecwid allows no API access on it.",
        (
            f"Upgrade to {PAID_PLAN_NAMES} in your Ecwid admin ({BILLING_URL}).",
            "Once the upgrade is done, wait a minute, then check again with the same URL.",
            "You can downgrade again after the migration.",
        ),
    ),
    Diagnosis.PLAN_LIMITED: CatalogueEntry(
        "The store's Ecwid plan does not include everything a migration reads",
        "Ecwid answers that the store's plan does not include access to: {entities}.",
        (
            f"See which plan includes it in your Ecwid admin ({BILLING_URL}) and upgrade; you "
            "can downgrade again after the migration.",
            "Then check again with the same URL: the change takes effect at once.",
            CONTACT_MIGRATION,
        ),
    ),
    Diagnosis.STORE_SUSPENDED: CatalogueEntry(
        "The Ecwid store is suspended",
        "Ecwid answers that this store is suspended, so its data cannot be read: either it was "
        "paused on Ecwid's Suspension plan, or its subscription is unpaid.",
        (
            "If the store was paused on Ecwid's Suspension plan, ask Ecwid's billing team "
            f"({ECWID_BILLING_EMAIL}) to reactivate it.",
            "If the subscription is unpaid, settle it in your Ecwid admin under Billing and "
            f"Plans ({BILLING_URL}); only the account owner can, not a staff account.",
            "Once the store is active again, check again with the same URL.",
        ),
    ),
    Diagnosis.TOKEN_INVALID: CatalogueEntry(
        "The access token was refused",
        "Usually the app was disconnected, which withdraws the token; or the token was "
        "mistyped, or belongs to another store.",
        (
            'Open the API Playground again, click "Connect with Ecwid" and copy the new URL '
            "from step 2: connecting again issues a new token.",
            "Paste the new URL and check again. (With a custom app: check the app is still "
            "installed, copy its secret token again and check with it.)",
        ),
    ),
    Diagnosis.STORE_NOT_FOUND: CatalogueEntry(
        "Ecwid does not know this store",
        "No Ecwid store has the ID {store_id}.",
        (
            "If you typed the Store ID, check it in your Ecwid admin (Settings → General → Store "
            "profile) and check again.",
            "If you pasted a collection URL, get a fresh one: " + _GET_URL,
        ),
    ),
    Diagnosis.SCOPE_MISSING: CatalogueEntry(
        "The token cannot read everything a migration needs",
        "The connection is not allowed to read: {entities}.",
        (
            'Reconnect the API Playground ("Connect with Ecwid") and accept every permission it '
            "asks for, then copy the new URL from step 2.",
            f"With a custom app ({CUSTOM_APPS_URL}): ask Ecwid for the missing permissions "
            '({scopes}) with the app\'s "Contact" button, reinstall the app, then copy the '
            "secret token again.",
        ),
    ),
    Diagnosis.TOKEN_PUBLIC: CatalogueEntry(
        "That is a public token: it cannot read orders or customers",
        "A public token only reads the visible catalogue; a migration needs the secret token.",
        (
            "Use the Personal collection URL from the API Playground, which carries a secret "
            "token.",
            f'With a custom app ({CUSTOM_APPS_URL}), click "Show secret token" and use the '
            "token starting with secret_.",
        ),
    ),
    Diagnosis.RATE_LIMITED: CatalogueEntry(
        "Ecwid asked us to slow down",
        "Ecwid has had too many requests for this store and asked to wait {wait}.",
        (
            "Check again in {wait}.",
            "If another tool is importing or exporting this store right now, wait until it "
            "finishes.",
        ),
    ),
    Diagnosis.ECWID_UNAVAILABLE: CatalogueEntry(
        "Ecwid's API is not answering properly",
        "Ecwid did not answer properly, even when asked a second time, or a firewall or proxy in "
        "front of it answered instead.",
        (
            "This is usually brief: check again in a few minutes.",
            f"If it lasts, see Ecwid's status page or contact Ecwid support ({ECWID_SUPPORT_URL}).",
            CONTACT_MIGRATION,
        ),
    ),
    Diagnosis.THROTTLED: CatalogueEntry(
        "Please wait before checking again",
        "This connection cannot be checked again just yet.",
        (
            "If the previous check found a problem, fix it first: follow its steps.",
            "Then check again in {wait}.",
        ),
    ),
    Diagnosis.CHECK_TIMEOUT: CatalogueEntry(
        "The check took too long",
        "Ecwid did not answer in time, so the check was stopped.",
        ("Check again in a few minutes.", CONTACT_MIGRATION),
    ),
    Diagnosis.INTERNAL_ERROR: CatalogueEntry(
        "Something went wrong on our side",
        "The check failed because of an error in the bot, not because of your store.",
        (
            "Check again in a minute.",
            "If it happens again, ask the migration team for help and quote reference {reference}.",
        ),
    ),
}

SUPPORT_ONLY_WARNINGS = frozenset({WarningCode.RECOVERED_AFTER_RETRY})
"""Warnings that change nothing for the store owner: shown to support only."""

WARNING_TEXTS: dict[WarningCode, str] = {
    WarningCode.STORE_CLOSED: (
        "The store is closed for maintenance. That does not stop the migration, but your "
        "customers cannot buy meanwhile."
    ),
    WarningCode.CATALOG_EMPTY: "The store has no products: there is no catalogue to migrate.",
    WarningCode.STORE_ID_MISMATCH: (
        "The store ID in the collection differs from the one Ecwid reports; the one Ecwid "
        "reports is shown."
    ),
    WarningCode.RECOVERED_AFTER_RETRY: (
        "Ecwid failed once during the check and answered on the second try."
    ),
}
