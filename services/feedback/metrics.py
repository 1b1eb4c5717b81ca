"""The feedback service's own Prometheus metrics (served on /metrics with the shared ones)."""

from prometheus_client import Counter

SUBMISSIONS = Counter(
    "bantin_feedback_submissions_total",
    "Readers' feedback submissions by outcome"
    " (stored, held, replayed, invalid, article_unavailable, spam_*, too_many_submissions,"
    " submission_rate)",
    ["outcome"],
)
