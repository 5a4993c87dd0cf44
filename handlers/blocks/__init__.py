"""Block Kit builders: pure functions from data to Slack messages and views.

This package is the one place where the bot's Slack layout lives: `check` for the connection
check, `support` for escalations and history, `home` for the App Home, `common` for what they
share. Each builder goes through `slack_sdk.models`, whose `to_dict()` validates Slack's limits,
and returns plain dicts. Nothing here calls Slack or the check engine; nothing here ever sees a
secret.
"""
