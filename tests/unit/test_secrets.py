"""Secrets made on first start (services/common/secrets_init.py, run as compose runs it: a
plain process) and read from X or X_FILE (services/common/config.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from services.common.config import (
    ConfigError,
    Settings,
    database_url,
    secret,
    with_password,
)

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("postgres-password", "articles-db-password", "feedback-form-secret")


def generate(paths: list[str], **given: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.common.secrets_init", *paths],
        env={"PATH": "/usr/bin:/bin", **given},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def contents(directory: Path) -> dict[str, str]:
    return {name: (directory / name).read_text() for name in NAMES}


def test_first_start_writes_distinct_random_secrets_readable_by_owner_and_group(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "secrets"
    run = generate([str(directory / name) for name in NAMES])
    assert run.returncode == 0, run.stderr
    made = contents(directory)
    values = [value.removesuffix("\n") for value in made.values()]
    assert len(set(values)) == len(NAMES)
    assert all(len(value) >= 40 and value.isascii() for value in values)
    for name in NAMES:
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o440
    assert stat.S_IMODE(directory.stat().st_mode) == 0o711
    for value in values:  # what it prints names the files, never their values
        assert value not in run.stdout + run.stderr


def test_later_starts_keep_the_secrets_and_a_given_value_wins(tmp_path: Path) -> None:
    paths = [str(tmp_path / name) for name in NAMES]
    assert generate(paths).returncode == 0
    first = contents(tmp_path)
    assert generate(paths).returncode == 0
    assert contents(tmp_path) == first

    run = generate(paths, ARTICLES_DB_PASSWORD="the-operators-own-choice")
    assert run.returncode == 0, run.stderr
    now = contents(tmp_path)
    assert now["articles-db-password"] == "the-operators-own-choice\n"
    assert now["postgres-password"] == first["postgres-password"]
    assert "articles-db-password: set from the environment" in run.stdout


def test_a_placeholder_or_a_bad_owner_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "feedback-form-secret"
    refused = generate([str(path)], FEEDBACK_FORM_SECRET="CHANGE-ME")
    assert refused.returncode == 1
    assert "placeholder" in refused.stderr
    bad = generate([f"{tmp_path / 'x'}=postgres:postgres"])
    assert bad.returncode == 1 and "UID:GID" in bad.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root, as in compose")
def test_run_as_root_each_file_goes_to_its_reader(tmp_path: Path) -> None:
    run = generate([f"{tmp_path / 'articles-db-password'}=10001:999", str(tmp_path / "other")])
    assert run.returncode == 0, run.stderr
    given = (tmp_path / "articles-db-password").stat()
    assert (given.st_uid, given.st_gid) == (10001, 999)
    assert (tmp_path / "other").stat().st_uid == 0


def test_a_secret_comes_from_the_variable_or_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROBE_SECRET", raising=False)
    monkeypatch.delenv("PROBE_SECRET_FILE", raising=False)
    assert secret("PROBE_SECRET") is None
    (tmp_path / "probe").write_text("from a file\n")
    monkeypatch.setenv("PROBE_SECRET_FILE", str(tmp_path / "probe"))
    assert secret("PROBE_SECRET") == "from a file"
    monkeypatch.setenv("PROBE_SECRET", "given")
    assert secret("PROBE_SECRET") == "given"
    monkeypatch.delenv("PROBE_SECRET")
    monkeypatch.setenv("PROBE_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="PROBE_SECRET_FILE: cannot read"):
        secret("PROBE_SECRET")
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("PROBE_SECRET_FILE", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="empty"):
        secret("PROBE_SECRET")


def test_a_password_file_completes_the_services_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db").write_text("p@ss/word:1\n")
    (tmp_path / "amqp").write_text("broker-secret\n")
    monkeypatch.setenv("FEEDBACK_DATABASE_URL", "postgresql://feedback@postgres:5432/bantin")
    monkeypatch.setenv("FEEDBACK_DATABASE_PASSWORD_FILE", str(tmp_path / "db"))
    monkeypatch.setenv("AMQP_URL", "amqp://feedback@rabbitmq:5672/")
    monkeypatch.setenv("AMQP_PASSWORD_FILE", str(tmp_path / "amqp"))
    settings = Settings.from_env("feedback")
    assert settings.database_url == "postgresql://feedback:p%40ss%2Fword%3A1@postgres:5432/bantin"
    assert settings.amqp_url == "amqp://feedback:broker-secret@rabbitmq:5672/"
    monkeypatch.delenv("FEEDBACK_DATABASE_PASSWORD_FILE")
    assert database_url("feedback") == "postgresql://feedback@postgres:5432/bantin"
    with pytest.raises(ConfigError, match="names no user"):
        with_password("amqp://rabbitmq:5672/", "secret")
