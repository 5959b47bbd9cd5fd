"""Migrations build everything from nothing, go down and up again, and match the models."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import UniqueConstraint, create_engine, inspect, pool
from sqlalchemy.engine import make_url

from devtools.scratch import run_alembic
from domain.models import Base
from domain.shared.db import include_in_autogenerate, is_partition


@pytest.fixture
def empty_database(servers: Any) -> Iterator[str]:
    """A database of this test's own on the test server."""
    name = f"funnels_mig_{secrets.token_hex(4)}"
    admin = make_url(servers.database_url).set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(servers.database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        names = set(inspect(engine).get_table_names()) - {"alembic_version"}
        return {name for name in names if not is_partition(name)}
    finally:
        engine.dispose()


def _drift(url: str) -> list[Any]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_object": include_in_autogenerate}
            context = MigrationContext.configure(conn, opts=opts)
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_and_no_drift(empty_database: str) -> None:
    run_alembic(empty_database)
    assert _tables(empty_database) == set(Base.metadata.tables)
    assert _drift(empty_database) == []

    run_alembic(empty_database, "downgrade", "base")
    assert _tables(empty_database) == set()

    run_alembic(empty_database)
    assert _tables(empty_database) == set(Base.metadata.tables)
    assert _drift(empty_database) == []


def test_every_tenant_table_has_an_indexed_account_id() -> None:
    for table in Base.metadata.sorted_tables:
        if "account_id" not in table.c:
            continue
        leading = [table.primary_key.columns.keys()[0]]
        leading += [index.columns.keys()[0] for index in table.indexes] + [
            constraint.columns.keys()[0]
            for constraint in table.constraints
            if isinstance(constraint, UniqueConstraint)
        ]
        assert "account_id" in leading, f"{table.name}.account_id is not indexed"


def test_domain_events_are_append_only(db: Any, tenant: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from domain.shared import events

    events.record(
        db,
        account_id=tenant.account_id,
        type="contact.created",
        payload={"contact_id": str(tenant.user_id), "email": tenant.email, "source": None},
    )
    db.flush()
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(
            text("UPDATE domain_events SET type = 'x' WHERE account_id = :a"),
            {"a": tenant.account_id},
        )
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(
            text("DELETE FROM domain_events WHERE account_id = :a"), {"a": tenant.account_id}
        )
