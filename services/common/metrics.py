"""Prometheus metrics shared by every service (served on each service's /metrics)."""

from prometheus_client import Counter, Gauge

EVENTS_PUBLISHED = Counter(
    "bantin_events_published_total", "Events the outbox relay published, confirmed", ["type"]
)
EVENTS_UNROUTABLE = Counter(
    "bantin_events_unroutable_total",
    "Confirmed events the broker could route to no queue (no subscriber bound)",
    ["type"],
)
PUBLISH_FAILURES = Counter(
    "bantin_outbox_publish_failures_total", "Outbox rows whose publish failed (retried)", ["type"]
)
OUTBOX_OLDEST_UNSENT = Gauge(
    "bantin_outbox_oldest_unsent_seconds",
    "Age of the oldest outbox row not yet confirmed by the broker (alarm when it grows)",
)
EVENTS_CONSUMED = Counter(
    "bantin_events_consumed_total",
    "Messages a consumer finished with, by outcome (handled, duplicate, stale, parked)",
    ["consumer", "outcome"],
)
HANDLER_FAILURES = Counter(
    "bantin_event_handler_failures_total", "Failed attempts to handle an event", ["consumer"]
)
VIEWS_DROPPED = Counter(
    "bantin_views_dropped_total",
    "Views answered but not counted, by the rule that dropped them (bot, other_site: at"
    " ingest; repeat, address_limit, too_old: when counted)",
    ["reason"],
)
