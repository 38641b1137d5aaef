"""Prometheus metrics of the daemon (served at /metrics).

Label sets are bounded: link names, kinds, outcomes and reasons; never user ids or emails.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

NOTIFICATIONS = Counter(
    "m365sync_notifications_total",
    "Graph notification items received, by endpoint and verdict.",
    ["endpoint", "verdict"],  # verdict: accepted | rejected_<reason>
)
REFUSED_REQUESTS = Counter(
    "m365sync_refused_requests_total",
    "Requests refused as malformed (4xx) before any handler logic, by surface and reason.",
    ["surface", "reason"],  # surface: graph | oauth | api | login | page
)
WEBHOOK_LATENCY = Histogram(
    "m365sync_webhook_seconds",
    "Time to check, persist and answer a notification POST.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
QUEUE_DEPTH = Gauge("m365sync_queue_depth", "Events due now or being worked (claimed).", ["link"])
QUEUE_SCHEDULED = Gauge(
    "m365sync_queue_scheduled", "Pending events due later (rechecks, retries).", ["link"]
)
QUEUE_OLDEST_AGE = Gauge(
    "m365sync_queue_oldest_pending_seconds",
    "Age of the oldest event due now or being worked.",
    ["link"],
)
FAILED_EVENTS = Gauge(
    "m365sync_failed_events",
    "Events failed past their retries, and PBX writes that failed (kind action).",
    ["link"],
)
ROUNDS = Counter(
    "m365sync_rounds_total", "Rounds by kind and outcome.", ["link", "kind", "outcome"]
)
ROUND_DURATION = Histogram(
    "m365sync_round_seconds",
    "Round duration by kind.",
    ["link", "kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
ACTIONS = Counter(
    "m365sync_actions_total",
    "PBX actions applied, by kind and outcome.",
    ["link", "kind", "outcome"],
)
NUMBERS_TAKEN = Counter(
    "m365sync_numbers_taken_total",
    "Creates the PBX refused because another account had the number (retried with the next).",
    ["link"],
)
CONFLICTS = Counter("m365sync_conflicts_total", "Conflicts found by rounds.", ["link", "kind"])
HELD_ACTIONS = Gauge("m365sync_held_actions", "Actions held for approval.", ["link"])
GRAPH_REQUESTS = Counter(
    "m365sync_graph_requests_total", "Requests to Microsoft Graph by status.", ["status"]
)
GRAPH_LATENCY = Histogram("m365sync_graph_request_seconds", "Graph request latency.")
PBX_REQUESTS = Counter("m365sync_pbx_requests_total", "Requests to the PBX by status.", ["status"])
PBX_LATENCY = Histogram("m365sync_pbx_request_seconds", "PBX request latency.")
RETRIES = Counter("m365sync_retries_total", "Retried requests by peer.", ["peer"])
TOKEN_FAILURES = Counter(
    "m365sync_token_refresh_failures_total", "Token acquisitions that failed.", ["link"]
)
SUBSCRIPTION_TTL = Gauge(
    "m365sync_subscription_seconds_to_expiry", "Seconds until the subscription expires.", ["link"]
)
LINK_ACTIVE = Gauge(
    "m365sync_link_active", "1 when the link is active, 0 in Setup Required.", ["link"]
)
WORKER_HEARTBEAT = Gauge(
    "m365sync_worker_heartbeat_timestamp_seconds", "When the worker loop last went round."
)
LINK_PUSH = Gauge(
    "m365sync_link_push",
    "1 when Graph pushes the link's changes (M365SYNC_PUBLIC_URL), 0 when the link polls.",
    ["link"],
)
POLL_INTERVAL = Gauge(
    "m365sync_link_poll_interval_seconds",
    "How often the link reads its delta unasked: the poll interval, or with push the safety poll.",
    ["link"],
)
LAST_NOTIFICATION = Gauge(
    "m365sync_link_last_notification_timestamp_seconds",
    "When the link's last change or lifecycle notification arrived (0: none kept).",
    ["link"],
)
LAST_POLL = Gauge(
    "m365sync_link_last_poll_timestamp_seconds",
    "When the link's last poll finished (0: none yet).",
    ["link"],
)
