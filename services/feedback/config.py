"""The feedback service's own settings (besides services.common.config.Settings) and the
app keys of what it keeps on the app."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass

from aiohttp import web

from services.common.config import ConfigError
from services.feedback.spam import FormSigner

log = logging.getLogger(__name__)

FORM_SECRET_ENV = "FEEDBACK_FORM_SECRET"


@dataclass(frozen=True)
class FeedbackConfig:
    # Signs the forms' timestamps and the moderation page's CSRF tokens.
    form_secret: bytes

    @classmethod
    def from_env(cls) -> FeedbackConfig:
        """FEEDBACK_FORM_SECRET, else a random secret for this process only: forms then
        verify only on the instance that rendered them (and not after a restart), so set
        it whenever more than one instance runs."""
        secret = os.environ.get(FORM_SECRET_ENV, "")
        if secret:
            if len(secret.encode()) < 16:
                raise ConfigError(f"{FORM_SECRET_ENV} must be at least 16 bytes long")
            return cls(secret.encode())
        log.warning(
            "%s is not set: using a random per-process secret; forms rendered by another "
            "instance, or before a restart, will be refused",
            FORM_SECRET_ENV,
        )
        return cls(secrets.token_bytes(32))


FORM_SIGNER = web.AppKey("form_signer", FormSigner)
