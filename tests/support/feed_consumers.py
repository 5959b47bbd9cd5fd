"""Two feed consumers of the suite's, registered only in the workers that import this module
(CeleryWorker(..., include=...)): the test process and the suite-wide worker never run them."""

from __future__ import annotations

from domain.events import feed
from tests.support.feed import FED, WORKER_CONSUMERS, effect_writer

for _name in WORKER_CONSUMERS:
    feed.register(_name, effect_writer(_name), types=[FED], batch_size=5)
