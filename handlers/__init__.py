"""Slack listeners, grouped by Slack feature; each group has one `register(app)`."""
