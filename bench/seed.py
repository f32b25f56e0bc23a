"""Realistic data for the benchmark: a migrated schema of its own, users, their tokens."""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import argon2
import asyncpg
import msgspec
from cryptography.hazmat.primitives import serialization

from order_service.adapters.crypto.jwt_tokens import JwtTokens, KeyRing
from order_service.adapters.migrations import migrate
from order_service.application.ports import Principal
from order_service.domain.ids import new_id
from order_service.domain.users import Role
from order_service.platform.config import Settings

PASSWORD = "correct horse battery staple"  # noqa: S105 - the seeded users' benchmark password
TOKEN_TTL = timedelta(hours=2)  # outlives any benchmark run


@dataclass(frozen=True)
class Seeded:
    schema: str
    user_ids: list[uuid.UUID]
    emails: list[str]
    pairs_file: Path  # "<id> <token>" lines for wrk
    logins_file: Path  # "<email> <password>" lines for wrk
    users_json: Path  # the ceiling's in-memory copy, in the API's JSON shape
    public_key_pem: str


def create_schema(dsn: str, schema: str) -> None:
    migrate(dsn, schema=schema)


async def _drop_schema(dsn: str, schema: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


def drop_schema(dsn: str, schema: str) -> None:
    asyncio.run(_drop_schema(dsn, schema))


def seed(dsn: str, schema: str, count: int, keys_dir: Path, work_dir: Path) -> Seeded:
    """Insert `count` customers (one argon2id hash with the production parameters, shared)."""
    defaults = Settings()
    hasher = argon2.PasswordHasher(
        time_cost=defaults.argon2_time_cost,
        memory_cost=defaults.argon2_memory_kib,
        parallelism=defaults.argon2_parallelism,
        type=argon2.Type.ID,
    )
    password_hash = hasher.hash(PASSWORD)
    now = datetime.now(UTC)
    rows = [
        (new_id(), f"user{n:06d}@bench.example", f"Bench User {n}", password_hash, "customer")
        for n in range(count)
    ]
    asyncio.run(_insert(dsn, schema, rows, now))

    keys = KeyRing.from_directory(keys_dir, create_if_empty=True)
    tokens = JwtTokens(
        keys=keys,
        issuer=defaults.jwt_issuer,
        audience=defaults.jwt_audience,
        ttl_seconds=int(TOKEN_TTL.total_seconds()),
        clock=lambda: datetime.now(UTC),
    )
    customer = frozenset({Role.CUSTOMER})
    pairs = [
        f"{user_id} {tokens.issue(Principal(user_id, customer)).access_token}"
        for user_id, *_ in rows
    ]
    pairs_file = work_dir / "pairs.txt"
    pairs_file.write_text("\n".join(pairs) + "\n")
    logins_file = work_dir / "logins.txt"
    logins_file.write_text("".join(f"{row[1]} {PASSWORD}\n" for row in rows))
    users_json = work_dir / "users.json"
    users_json.write_bytes(
        msgspec.json.encode(
            [
                {
                    "id": str(user_id),
                    "email": email,
                    "name": name,
                    "roles": [roles],
                    "created_at": now.isoformat(),
                }
                for user_id, email, name, _, roles in rows
            ]
        )
    )
    public_pem = keys.signing.public_key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode()
    return Seeded(
        schema=schema,
        user_ids=[row[0] for row in rows],
        emails=[row[1] for row in rows],
        pairs_file=pairs_file,
        logins_file=logins_file,
        users_json=users_json,
        public_key_pem=public_pem,
    )


async def _insert(
    dsn: str, schema: str, rows: list[tuple[uuid.UUID, str, str, str, str]], now: datetime
) -> None:
    connection = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        await connection.copy_records_to_table(
            "users",
            records=[(*row, now, now) for row in rows],
            columns=["id", "email", "name", "password_hash", "roles", "created_at", "updated_at"],
        )
        await connection.execute("ANALYZE users")
    finally:
        await connection.close()
