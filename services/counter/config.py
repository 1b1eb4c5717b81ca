"""The counter's settings and the keys of what its app holds."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from services.common.config import env_int
from services.counter.answers import ShortCache
from services.counter.batcher import ViewBatcher
from services.counter.domain import AGENTS_PER_ADDRESS, Clock, CountableArticles
from services.counter.salts import SaltKeeper


@dataclass(frozen=True)
class CounterSettings:
    """The counter's own knobs (environment variables, all optional)."""

    batch_max: int = 500  # COUNTER_BATCH_MAX: views per views.batch at most
    batch_delay: float = 0.02  # COUNTER_BATCH_DELAY_MS: longest wait before a batch goes
    counts_interval: float = 1.0  # COUNTER_COUNTS_INTERVAL_MS: views.counted round
    article_reload: float = 60.0  # COUNTER_ARTICLE_RELOAD_SECONDS: full reload of the set
    maintenance_interval: float = 600.0  # COUNTER_MAINTENANCE_SECONDS: salts, old keys
    agents_per_address: int = AGENTS_PER_ADDRESS  # COUNTER_AGENTS_PER_ADDRESS (8)
    count_group_max: int = 20  # COUNTER_COUNT_GROUP_MAX: batches counted in one transaction
    count_window: float = 0.01  # COUNTER_COUNT_WINDOW_MS: longest wait to gather a group

    @classmethod
    def from_env(cls) -> CounterSettings:
        return cls(
            batch_max=max(1, min(5000, env_int("COUNTER_BATCH_MAX", 500))),
            batch_delay=env_int("COUNTER_BATCH_DELAY_MS", 20) / 1000,
            counts_interval=env_int("COUNTER_COUNTS_INTERVAL_MS", 1000) / 1000,
            article_reload=float(env_int("COUNTER_ARTICLE_RELOAD_SECONDS", 60)),
            maintenance_interval=float(env_int("COUNTER_MAINTENANCE_SECONDS", 600)),
            agents_per_address=max(1, env_int("COUNTER_AGENTS_PER_ADDRESS", AGENTS_PER_ADDRESS)),
            count_group_max=max(1, min(200, env_int("COUNTER_COUNT_GROUP_MAX", 20))),
            count_window=max(0, env_int("COUNTER_COUNT_WINDOW_MS", 10)) / 1000,
        )


COUNTER_SETTINGS = web.AppKey("counter_settings", CounterSettings)
CLOCK = web.AppKey[Clock]("clock")
ARTICLES = web.AppKey("countable_articles", CountableArticles)
SALTS = web.AppKey("salts", SaltKeeper)
BATCHER = web.AppKey("batcher", ViewBatcher)
ANSWERS = web.AppKey("answers", ShortCache)
