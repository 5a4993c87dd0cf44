"""What the bot counts for Prometheus (`GET /metrics`): one registry per `BotServices`, so that
several bots in one process (tests, the demo) never share or clash over their counts."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
# Support time to an escalation's first response and to its resolution: minutes to days.
_SUPPORT_SECONDS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800)
_ACK_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0)


class Metrics:
    """The bot's counters, histograms and gauges, all prefixed `ecwid_connect_`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.checks = Counter(
            "ecwid_connect_checks",
            "Connection checks recorded, by diagnosis and entry point.",
            ["diagnosis", "entry_point"],
            registry=r,
        )
        self.check_duration = Histogram(
            "ecwid_connect_check_duration_seconds",
            "How long a connection check took, by entry point.",
            ["entry_point"],
            buckets=_SECONDS,
            registry=r,
        )
        self.ack_duration = Histogram(
            "ecwid_connect_ack_seconds",
            "Time from a Slack request's arrival to the bot's answer (Slack waits 3 s).",
            buckets=_ACK_SECONDS,
            registry=r,
        )
        self.outbound = Counter(
            "ecwid_connect_http_requests",
            "Requests to Ecwid's API and to collection downloads, by outcome "
            "(2xx, 3xx, 4xx, 429, 5xx, error).",
            ["service", "outcome"],
            registry=r,
        )
        self.slack_calls = Counter(
            "ecwid_connect_slack_calls",
            "Slack Web API calls, by method and outcome (ok, Slack's error code, or exception).",
            ["method", "outcome"],
            registry=r,
        )
        self.slack_retries = Counter(
            "ecwid_connect_slack_retries",
            "Slack Web API calls retried, by reason (ratelimited = a 429).",
            ["reason"],
            registry=r,
        )
        self.rejected = Counter(
            "ecwid_connect_rejected_requests",
            "HTTP requests refused before parsing (bad signature, stale or malformed), by reason.",
            ["reason"],
            registry=r,
        )
        self.ignored = Counter(
            "ecwid_connect_ignored_requests",
            "Signed Slack requests acknowledged but ignored because they were incomplete.",
            registry=r,
        )
        self.secrets_spotted = Counter(
            "ecwid_connect_secrets_spotted",
            "Messages in channels holding a secret (the leak guard), by kind (collection_url, "
            "token, store_and_token) and channel type (channel, group, mpim).",
            ["kind", "channel_type"],
            registry=r,
        )
        self.leak_warnings = Counter(
            "ecwid_connect_leak_warnings",
            "Warnings to the author of a pasted secret, by how they went (ephemeral, dm, "
            "undelivered) and support notes (support_note).",
            ["outcome"],
            registry=r,
        )
        self.database_errors = Counter(
            "ecwid_connect_database_errors",
            "Database operations that failed.",
            registry=r,
        )
        self.backlog = Gauge(
            "ecwid_connect_background_tasks",
            "Background work (checks, posts) in flight.",
            registry=r,
        )
        self.timed_work = Counter(
            "ecwid_connect_timed_work_runs",
            "Runs of timed work (follow-ups, watches, reminders), by kind and outcome: done, "
            "again (its next run is scheduled), failed (tried again later), lost (cancelled "
            "or taken over meanwhile).",
            ["kind", "outcome"],
            registry=r,
        )
        self.escalation_response = Histogram(
            "ecwid_connect_escalation_response_seconds",
            "Support time from an escalation's opening (or reopening) to its first response "
            "(Take, a reply to the customer, or Resolved), by urgency.",
            ["urgency"],
            buckets=_SUPPORT_SECONDS,
            registry=r,
        )
        self.escalation_resolution = Histogram(
            "ecwid_connect_escalation_resolution_seconds",
            "Support time from an escalation's opening (or reopening) to Resolved, by urgency.",
            ["urgency"],
            buckets=_SUPPORT_SECONDS,
            registry=r,
        )
        self.escalations_overdue = Gauge(
            "ecwid_connect_escalations_overdue",
            "Escalations open past their first response's due time, counted at each scrape.",
            registry=r,
        )
        self.follow_ups = Counter(
            "ecwid_connect_follow_ups",
            "Follow-ups (the bot checking a failed store again on its own), by event: started, "
            "succeeded, expired, changed (needs a new URL), stopped.",
            ["event"],
            registry=r,
        )
        self.watch_changes = Counter(
            "ecwid_connect_watch_changes",
            "Changes a watch caught: a watched store stopped working, or worked again.",
            registry=r,
        )
        self.watches_active = Gauge(
            "ecwid_connect_watches_active",
            "Watches until migration running, across the database (counted at scrape).",
            registry=r,
        )
        self.ready = Gauge(
            "ecwid_connect_ready",
            "1 when the last readiness probe passed, else 0.",
            registry=r,
        )

    def track_backlog(self, size: Callable[[], int]) -> None:
        self.backlog.set_function(lambda: float(size()))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def check_recorded(self, diagnosis: str, entry_point: str, duration_ms: int) -> None:
        self.checks.labels(diagnosis, entry_point).inc()
        self.check_duration.labels(entry_point).observe(max(duration_ms, 0) / 1000)

    def escalation_responded(self, urgency: str, seconds: float) -> None:
        self.escalation_response.labels(urgency).observe(seconds)

    def escalation_resolved(self, urgency: str, seconds: float) -> None:
        self.escalation_resolution.labels(urgency).observe(seconds)

    def count_outbound(self, http: httpx.AsyncClient, ecwid_api_url: str) -> None:
        """Count every request `http` sends, as `ecwid` or `collection`, by outcome."""
        http._transport = _CountingTransport(http._transport, self, ecwid_api_url)


class _CountingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, metrics: Metrics, ecwid_url: str) -> None:
        self._inner = inner
        self._metrics = metrics
        self._ecwid = httpx.URL(ecwid_url.rstrip("/") + "/")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        ecwid = (url.scheme, url.host, url.port) == (
            self._ecwid.scheme,
            self._ecwid.host,
            self._ecwid.port,
        ) and url.path.startswith(self._ecwid.path)
        service = "ecwid" if ecwid else "collection"
        try:
            response = await self._inner.handle_async_request(request)
        except Exception:
            self._metrics.outbound.labels(service, "error").inc()
            raise
        self._metrics.outbound.labels(service, http_outcome(response.status_code)).inc()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def http_outcome(status: int) -> str:
    if status == 429:
        return "429"
    return f"{status // 100}xx"
