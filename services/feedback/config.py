"""The feedback service's own settings (besides services.common.config.Settings) and the
app keys of what it keeps on the app."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass

from aiohttp import web

from services.common.config import ConfigError, env_int
from services.feedback.limits import DEFAULT_DAILY_LIMIT, DailyCap
from services.feedback.lookups import LookupLimiter
from services.feedback.spam import FormSigner

log = logging.getLogger(__name__)

FORM_SECRET_ENV = "FEEDBACK_FORM_SECRET"
DAILY_LIMIT_ENV = "FEEDBACK_DAILY_LIMIT_PER_ADDRESS"
ORGANISATION_ENV = "FEEDBACK_ORGANISATION_NAME"
RETENTION_ENV = "FEEDBACK_CONTACT_RETENTION_DAYS"
DEFAULT_ORGANISATION = "Ban biên tập"
DEFAULT_RETENTION_DAYS = 90


@dataclass(frozen=True)
class FeedbackConfig:
    # Signs the forms' timestamps and the moderation page's CSRF tokens, and keys the
    # daily cap's counters (so they never hold an address).
    form_secret: bytes
    # Submissions (forms and API together) per client address per day in Vietnam.
    daily_limit_per_address: int = DEFAULT_DAILY_LIMIT
    # The unit that signs official replies in public (the moderator is recorded privately).
    organisation_name: str = DEFAULT_ORGANISATION
    # Days after a case is closed until its e-mail and phone are deleted.
    contact_retention_days: int = DEFAULT_RETENTION_DAYS

    @classmethod
    def from_env(cls) -> FeedbackConfig:
        """FEEDBACK_FORM_SECRET, else a random secret for this process only: forms then
        verify only on the instance that rendered them (and not after a restart), so set
        it whenever more than one instance runs. FEEDBACK_DAILY_LIMIT_PER_ADDRESS (20),
        FEEDBACK_ORGANISATION_NAME ("Ban biên tập"), FEEDBACK_CONTACT_RETENTION_DAYS (90)."""
        limit = env_int(DAILY_LIMIT_ENV, DEFAULT_DAILY_LIMIT)
        if limit < 1:
            raise ConfigError(f"{DAILY_LIMIT_ENV} must be at least 1")
        organisation = " ".join(os.environ.get(ORGANISATION_ENV, "").split())
        retention = env_int(RETENTION_ENV, DEFAULT_RETENTION_DAYS)
        if retention < 1:
            raise ConfigError(f"{RETENTION_ENV} must be at least 1")
        return cls(_form_secret(), limit, organisation or DEFAULT_ORGANISATION, retention)


def _form_secret() -> bytes:
    secret = os.environ.get(FORM_SECRET_ENV, "")
    if secret:
        if len(secret.encode()) < 16:
            raise ConfigError(f"{FORM_SECRET_ENV} must be at least 16 bytes long")
        return secret.encode()
    log.warning(
        "%s is not set: using a random per-process secret; forms rendered by another "
        "instance, or before a restart, will be refused",
        FORM_SECRET_ENV,
    )
    return secrets.token_bytes(32)


FORM_SIGNER = web.AppKey("form_signer", FormSigner)
DAILY_CAP = web.AppKey("daily_cap", DailyCap)
CONFIG = web.AppKey("feedback_config", FeedbackConfig)
LOOKUP_LIMITER = web.AppKey("lookup_limiter", LookupLimiter)
