"""docs/operations.md names metrics, queues, volumes and commands an operator will type
at a bad moment: each must exist."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from prometheus_client import REGISTRY

import services.counter.app  # noqa: F401  (registers the counter's metrics)
import services.feedback.metrics  # noqa: F401
from scripts.run_local import load_compose
from services.common import metrics  # noqa: F401
from services.common.events.topology import QUEUES

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "operations.md").read_text()


def test_every_metric_it_names_is_exported() -> None:
    families = list(REGISTRY.collect())
    # A counter's family drops the _total its samples carry.
    counters = {f"{f.name}_total" for f in families if f.type == "counter"}
    exported = {f.name for f in families} | counters
    named = set(re.findall(r"`(bantin_[a-z_]+)", GUIDE))
    assert len(named) >= 7
    assert named <= exported, named - exported


def test_it_names_every_queue_and_only_real_ones() -> None:
    # A queue is named <consuming service>.<what it receives> (file names do not count).
    named = set(re.findall(r"`((?:articles|feedback|counter)\.[a-z-]+)`", GUIDE))
    assert named == {q.name for q in QUEUES}


def test_the_commands_and_volumes_it_gives_exist() -> None:
    for module in set(re.findall(r"python -m (\w[\w.]*\w)", GUIDE)):
        assert importlib.util.find_spec(module) is not None, module
    compose = load_compose()
    # Compose names a volume <project>_<volume>.
    volumes = re.findall(rf"{compose['name']}_(auth-\w+)", GUIDE)
    assert sorted(volumes) == ["auth-private", "auth-public"]
    assert set(volumes) <= set(compose["volumes"])
    assert "keys" in compose["services"]
