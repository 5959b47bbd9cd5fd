"""Run Alembic from tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool

ROOT = Path(__file__).resolve().parents[2]


def _config() -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["configure_logger"] = False
    return config


def run(database_url: str, action: str, revision: str) -> None:
    """alembic upgrade/downgrade on the given database."""
    engine = create_engine(database_url, poolclass=pool.NullPool)
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)
    engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate to revision."""
    run(database_url, "upgrade", revision)
