"""The feedback service refuses to start with a form secret that everyone knows."""

from __future__ import annotations

import pytest

from services.common.config import ConfigError
from services.feedback.config import FORM_SECRET_ENV, FeedbackConfig


@pytest.mark.parametrize(
    "placeholder",
    ["CHANGE-ME-form-secret-32-bytes", "changeme0123456789", "x-Change_Me-x-0123456789"],
)
def test_a_placeholder_form_secret_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, placeholder: str
) -> None:
    monkeypatch.setenv(FORM_SECRET_ENV, placeholder)
    with pytest.raises(ConfigError, match=FORM_SECRET_ENV):
        FeedbackConfig.from_env()


def test_a_secret_of_ones_own_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FORM_SECRET_ENV, "k3r9-Qm2x-7Lp0-Zt5w")
    assert FeedbackConfig.from_env().form_secret == b"k3r9-Qm2x-7Lp0-Zt5w"
