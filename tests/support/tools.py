"""Tests that need a program installed by .ci/run (nginx, Chromium). On a developer's
machine without it they are skipped with a reason; under CI (BANTIN_REQUIRE_TOOLS=1) they
run and fail, so a missing tool can never pass unnoticed."""

from __future__ import annotations

import os
import shutil

import pytest


def needs(program: str) -> pytest.MarkDecorator:
    missing = shutil.which(program) is None and os.environ.get("BANTIN_REQUIRE_TOOLS") != "1"
    return pytest.mark.skipif(missing, reason=f"{program} is not installed (.ci/run installs it)")
