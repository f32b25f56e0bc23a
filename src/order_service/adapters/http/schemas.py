"""The Auth API's wire format. Generous bounds here; the domain enforces the real rules."""

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from order_service.domain.users import User

Email = Annotated[str, Meta(max_length=320, examples=["ada@example.com"])]
# Long enough for any passphrase the policy accepts; short enough that parsing stays cheap.
Password = Annotated[str, Meta(max_length=1024, examples=["correct horse battery staple"])]


class RegisterUser(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    name: Annotated[str, Meta(max_length=1000, examples=["Ada Lovelace"])]
    password: Password


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class UserOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    roles: list[str]
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            roles=sorted(user.roles),
            created_at=user.created_at,
        )


class TokenOut(msgspec.Struct):
    access_token: str
    expires_in: Annotated[int, Meta(description="seconds until the token expires")]
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class Jwk(msgspec.Struct):
    kty: str
    crv: str
    x: str
    kid: str
    use: str
    alg: str


class Jwks(msgspec.Struct):
    keys: list[Jwk]


class CheckOut(msgspec.Struct, omit_defaults=True):
    status: str
    duration_ms: float
    error: str | None = None


class ReadinessOut(msgspec.Struct):
    status: str
    checks: dict[str, CheckOut]


class LivenessOut(msgspec.Struct):
    status: str
