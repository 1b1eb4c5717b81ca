"""The feedback service's own settings (besides services.common.config.Settings) and the
app keys of what it keeps on the app."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass

from aiohttp import web

from services.common.config import ConfigError, env_int, refuse_placeholder
from services.common.config import secret as read_secret
from services.feedback.limits import DEFAULT_DAILY_LIMIT, DEFAULT_PER_MINUTE, DailyCap
from services.feedback.lookups import LookupLimiter
from services.feedback.spam import BannedWords, FormSigner
from services.feedback.store import CaseIds

log = logging.getLogger(__name__)

FORM_SECRET_ENV = "FEEDBACK_FORM_SECRET"
DAILY_LIMIT_ENV = "FEEDBACK_DAILY_LIMIT_PER_ADDRESS"
ORGANISATION_ENV = "FEEDBACK_ORGANISATION_NAME"
RETENTION_ENV = "FEEDBACK_CONTACT_RETENTION_DAYS"
DEFAULT_ORGANISATION = "Ban biên tập"
DEFAULT_RETENTION_DAYS = 90
PER_MINUTE_ENV = "FEEDBACK_LIMIT_PER_MINUTE"
BANNED_WORDS_ENV = "FEEDBACK_BANNED_WORDS"
BANNED_WORDS_FILE_ENV = "FEEDBACK_BANNED_WORDS_FILE"


@dataclass(frozen=True)
class FeedbackConfig:
    # Signs the forms' timestamps and the moderation page's CSRF tokens, and keys the
    # daily cap's counters (so they never hold an address).
    form_secret: bytes
    # Submissions (forms and API together) per client address per day in Vietnam.
    daily_limit_per_address: int = DEFAULT_DAILY_LIMIT
    # Submissions per visitor (client address) in any minute.
    limit_per_minute: int = DEFAULT_PER_MINUTE
    # Words and phrases that hold a submission for a moderator (spam.BannedWords).
    banned_words: tuple[str, ...] = ()
    # The unit that signs official replies in public (the moderator is recorded privately).
    organisation_name: str = DEFAULT_ORGANISATION
    # Days after a case is closed until its e-mail and phone are deleted.
    contact_retention_days: int = DEFAULT_RETENTION_DAYS

    @classmethod
    def from_env(cls) -> FeedbackConfig:
        """FEEDBACK_FORM_SECRET (or a file named by FEEDBACK_FORM_SECRET_FILE), else a
        random secret for this process only: forms then verify only on the instance that
        rendered them (and not after a restart), so set it whenever more than one runs.
        FEEDBACK_DAILY_LIMIT_PER_ADDRESS (20), FEEDBACK_LIMIT_PER_MINUTE (5),
        FEEDBACK_BANNED_WORDS (comma-separated) and FEEDBACK_BANNED_WORDS_FILE (one word or
        phrase a line, # starts a comment): both lists are used; none by default.
        FEEDBACK_ORGANISATION_NAME ("Ban biên tập"), FEEDBACK_CONTACT_RETENTION_DAYS (90)."""
        limits = {name: env_int(name, default) for name, default in _LIMITS.items()}
        for name, value in limits.items():
            if value < 1:
                raise ConfigError(f"{name} must be at least 1")
        organisation = " ".join(os.environ.get(ORGANISATION_ENV, "").split())
        return cls(
            _form_secret(),
            limits[DAILY_LIMIT_ENV],
            limits[PER_MINUTE_ENV],
            _banned_words(),
            organisation_name=organisation or DEFAULT_ORGANISATION,
            contact_retention_days=limits[RETENTION_ENV],
        )


_LIMITS = {
    DAILY_LIMIT_ENV: DEFAULT_DAILY_LIMIT,
    PER_MINUTE_ENV: DEFAULT_PER_MINUTE,
    RETENTION_ENV: DEFAULT_RETENTION_DAYS,
}


def _banned_words() -> tuple[str, ...]:
    words = os.environ.get(BANNED_WORDS_ENV, "").split(",")
    path = os.environ.get(BANNED_WORDS_FILE_ENV, "")
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{BANNED_WORDS_FILE_ENV}: cannot read {path}: {exc}") from exc
        words += [line for line in lines if not line.lstrip().startswith("#")]
    return tuple(word.strip() for word in words if word.strip())


def _form_secret() -> bytes:
    secret = refuse_placeholder(FORM_SECRET_ENV, read_secret(FORM_SECRET_ENV) or "")
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
BANNED_WORDS = web.AppKey("banned_words", BannedWords)
CASE_IDS = web.AppKey("case_ids", CaseIds)
