"""Fixtures of the events feed's tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from domain.events import feed
from tests.support.feed import (
    FED,
    create_effects_table,
    effect_writer,
    forget_cursors,
    start_cursors,
)


@pytest.fixture
def fed_consumer() -> Iterator[feed.Consumer]:
    """A consumer of testing.fed events registered in this process, starting at the tail."""
    create_effects_table()
    name = f"testing.inproc_{uuid.uuid4().hex[:8]}"
    start_cursors([name])
    consumer = feed.register(name, effect_writer(name), types=[FED], start="latest")
    yield consumer
    feed.unregister(name)
    forget_cursors([name])
