"""Every install takes exactly the files that were reviewed: the locks pin every package,
direct or not, with the hashes of its files, and every install requires them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.infra import ROOT

LOCKS = ("requirements.txt", "requirements-dev.txt")
INSTALLERS = (
    "scripts/test",
    "scripts/run-local",
    *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "services").glob("*/Dockerfile"))),
)
# One requirement of a lock: its pin and the options after it, up to the next requirement.
ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>\S+)(?P<options>(?:\s*\\\n\s+--hash=\S+)*)", re.M
)


def entries(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    return {m["name"].lower(): m["options"] for m in ENTRY.finditer(text)}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_has_its_hashes(lock: str) -> None:
    found = entries(lock)
    assert len(found) > 20  # the whole tree, not just the direct dependencies
    assert [name for name, options in found.items() if "--hash=sha256:" not in options] == []


def test_the_dev_lock_keeps_the_runtime_pins() -> None:
    runtime, dev = (ROOT / LOCKS[0]).read_text(), (ROOT / LOCKS[1]).read_text()
    pins = {m["name"].lower(): m["version"] for m in ENTRY.finditer(runtime)}
    dev_pins = {m["name"].lower(): m["version"] for m in ENTRY.finditer(dev)}
    assert {name: dev_pins.get(name) for name in pins} == pins


def test_every_direct_dependency_is_locked() -> None:
    for source, lock in (("requirements.in", LOCKS[0]), ("requirements-dev.in", LOCKS[1])):
        direct = re.findall(
            r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", (ROOT / source).read_text(), re.M
        )
        locked = {
            m["name"].lower(): m["version"] for m in ENTRY.finditer((ROOT / lock).read_text())
        }
        assert {n.lower(): v for n, v in direct} == {
            n.lower(): locked.get(n.lower()) for n, _ in direct
        }


@pytest.mark.parametrize("installer", INSTALLERS)
def test_every_install_requires_the_hashes(installer: str) -> None:
    lines = [
        line
        for line in (ROOT / installer).read_text().splitlines()
        if "pip" in line and " install" in line
    ]
    assert lines, f"{installer} installs nothing?"
    assert all("--require-hashes" in line for line in lines), lines


def test_the_hash_check_sees_a_package_without_hashes(tmp_path: Path) -> None:
    text = "aiohttp==3.14.5 \\\n    --hash=sha256:00\nyarl==1.0.0\n"
    found = {m["name"]: m["options"] for m in ENTRY.finditer(text)}
    assert "--hash" in found["aiohttp"] and found["yarl"] == ""
