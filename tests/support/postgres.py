"""The machine's PostgreSQL for tests: a schema of one's own, dropped afterwards.

Tests that need PostgreSQL skip when it does not answer, unless
``SKETCHYCHAT_TEST_REQUIRE_ALL=1`` (then they fail).
"""

from __future__ import annotations

import os
import secrets

from tests.support.needs import missing

__all__ = [
    "PG_URL",
    "cut_database",
    "drop_database",
    "drop_schema",
    "fresh_database",
    "fresh_schema",
    "restore_database",
]

PG_URL = os.environ.get(
    "SKETCHYCHAT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def fresh_schema() -> tuple[str, str]:
    """A new, empty schema and a URL whose connections use it (``search_path``)."""
    try:
        import asyncpg
    except ImportError:
        missing("asyncpg is not installed (the postgres extra)")
    schema = "t_" + secrets.token_hex(6)
    try:
        db = await asyncpg.connect(PG_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        missing(f"PostgreSQL is not reachable at {PG_URL}: {exc}")
    try:
        await db.execute(f"CREATE SCHEMA {schema}")
    finally:
        await db.close()
    sep = "&" if "?" in PG_URL else "?"
    return schema, f"{PG_URL}{sep}search_path={schema}"


async def _admin(*statements: str) -> None:
    import asyncpg

    db = await asyncpg.connect(PG_URL, timeout=3)
    try:
        for statement in statements:
            await db.execute(statement)
    finally:
        await db.close()


async def fresh_database() -> tuple[str, str]:
    """A new, empty database and its URL: one whose outage disturbs nobody else."""
    schema, _ = await fresh_schema()  # skips when PostgreSQL is not there
    await drop_schema(schema)
    name = "sc_" + secrets.token_hex(6)
    await _admin(f"CREATE DATABASE {name}")
    base, _, _ = PG_URL.rpartition("/")
    return name, f"{base}/{name}"


async def cut_database(name: str) -> None:
    """An outage: no new connections, and every open one dropped."""
    await _admin(
        f"ALTER DATABASE {name} ALLOW_CONNECTIONS false",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
    )


async def restore_database(name: str) -> None:
    await _admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


async def drop_database(name: str) -> None:
    await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def drop_schema(schema: str) -> None:
    import asyncpg

    db = await asyncpg.connect(PG_URL, timeout=3)
    try:
        await db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await db.close()
