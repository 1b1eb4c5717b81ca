"""No secret ships: the files that go into an image (its build context: requirements.txt and
services/, tracked or not) and those an operator deploys (deploy/, docker-compose.yml,
scripts/, docs) hold no credential beyond the audited ones in `.secrets.baseline` (dev-only
defaults and names of settings, each checked by a person); and no file of the repository,
tests included, holds a private key. detect-secrets (Yelp) does the finding.

After a change that adds a finding: look at it; if it is no secret, refresh the baseline
with `.venv/bin/detect-secrets scan --baseline .secrets.baseline $(git ls-files ...)`, the
same files as SHIPPED below."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings, transient_settings

from tests.support.infra import ROOT

SHIPPED = ("services", "deploy", "scripts", "docs", ".ci", "docker-compose.yml", "README.md")
IMAGE_CONTEXT = ("requirements.txt", "services")


def tracked(*paths: str) -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--", *paths], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(listed.stdout.split())


def image_context() -> set[str]:
    """What `docker build` would send: tracked or not, as .dockerignore lets it through."""
    found = {"requirements.txt"}
    for path in (ROOT / "services").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            found.add(str(path.relative_to(ROOT)))
    return found


def findings(
    files: set[str], plugins: list[dict[str, str]] | None = None
) -> set[tuple[str, str, str]]:
    collection = SecretsCollection(root=str(ROOT))
    settings = transient_settings({"plugins_used": plugins}) if plugins else default_settings()
    with settings:
        collection.scan_files(*sorted(files))
    return {(name, secret.type, secret.secret_hash) for name, secret in collection}


def baseline() -> set[tuple[str, str, str]]:
    results = json.loads((ROOT / ".secrets.baseline").read_text())["results"]
    return {(name, s["type"], s["hashed_secret"]) for name, found in results.items() for s in found}


def test_nothing_shipped_holds_a_secret_beyond_the_audited_ones() -> None:
    assert findings(tracked(*SHIPPED) | image_context()) - baseline() == set()


def test_no_file_holds_a_private_key() -> None:
    every = tracked() | image_context()
    assert findings(every, [{"name": "PrivateKeyDetector"}]) == set()


def test_the_scan_finds_a_private_key_and_a_password(tmp_path: Path) -> None:
    planted = ROOT / "services" / "planted_for_test.py"
    header = "-----BEGIN " + "OPENSSH PRIVATE KEY-----"
    planted.write_text(
        f'KEY = """{header}\nb3BlbnNzaC1rZXktdjEAAAAA\n"""\npassword = "k9Qm2xLp0Zt5w"\n'
    )
    try:
        found = {kind for _, kind, _ in findings({str(planted.relative_to(ROOT))})}
    finally:
        planted.unlink()
    assert {"Private Key", "Secret Keyword"} <= found
