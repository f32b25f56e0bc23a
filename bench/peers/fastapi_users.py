"""The peer: GET /v1/users/{id} in FastAPI as its documentation teaches it.

pydantic response model, `Depends` for the database session and for the current user,
SQLAlchemy 2 async ORM over asyncpg, PyJWT for the bearer token (the same EdDSA keys, issuer
and audience as order-service), same authorisation rule (a customer reads only itself). Run with
uvicorn (uvloop + httptools) against the same PostgreSQL schema. Settings come from BENCH_PEER_*.
"""

import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, Text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DATABASE_URL = os.environ.get(
    "BENCH_PEER_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SCHEMA = os.environ.get("BENCH_PEER_SCHEMA", "public")
PUBLIC_KEY_PEM = os.environ.get("BENCH_PEER_PUBLIC_KEY", "")
ISSUER = os.environ.get("BENCH_PEER_ISSUER", "order-service")
AUDIENCE = os.environ.get("BENCH_PEER_AUDIENCE", "order-service")

engine = create_async_engine(
    DATABASE_URL, connect_args={"server_settings": {"search_path": SCHEMA}}
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token")
app = FastAPI(title="users (FastAPI peer)")


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str]
    roles: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    roles: list[str]
    created_at: datetime


class CurrentUser(BaseModel):
    id: uuid.UUID
    roles: list[str]


def _public_key() -> Ed25519PublicKey:
    key = load_pem_public_key(PUBLIC_KEY_PEM.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError("BENCH_PEER_PUBLIC_KEY must be an Ed25519 public key")
    return key


PUBLIC_KEY: Ed25519PublicKey | str = _public_key() if PUBLIC_KEY_PEM else ""


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> CurrentUser:
    unauthorized = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        claims = jwt.decode(
            token,
            PUBLIC_KEY,
            algorithms=["EdDSA"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.InvalidTokenError:
        raise unauthorized from None
    return CurrentUser(id=uuid.UUID(claims["sub"]), roles=claims.get("roles", []))


SessionDep = Annotated[AsyncSession, Depends(get_session)]
CurrentUserDep = Annotated[CurrentUser, Depends(get_current_user)]


@app.get("/v1/users/{user_id}", response_model=UserOut)
async def read_user(user_id: uuid.UUID, session: SessionDep, current: CurrentUserDep) -> UserOut:
    if user_id != current.id and "admin" not in current.roles:
        raise HTTPException(status_code=403, detail="you may only read your own user")
    row = await session.get(UserRow, user_id)
    if row is None:
        raise HTTPException(status_code=404, detail="user not found")
    return UserOut(
        id=row.id,
        email=row.email,
        name=row.name,
        roles=sorted(role for role in row.roles.split(",") if role),
        created_at=row.created_at,
    )


@app.get("/ready")
async def ready(session: SessionDep) -> dict[str, str]:
    await session.execute(UserRow.__table__.select().limit(1))
    return {"status": "ready"}
