"""EdDSA (Ed25519) access tokens with a key ring: sign with the newest key, verify with any.

Rotation: add a new key (it becomes the signing key), keep the old one until every token it
signed has expired, then remove it. Key ids are RFC 7638 thumbprints, so they never collide.
"""

import base64
import functools
import hashlib
import logging
import os
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from order_service.adapters.user_rows import roles_from_text, roles_to_text
from order_service.application.ports import Clock, IssuedToken, Principal
from order_service.domain.errors import Unauthenticated
from order_service.domain.users import Role

_log = logging.getLogger(__name__)
ALGORITHM = "EdDSA"
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
_PEM_END = "-----END PRIVATE KEY-----"
# Clock skew tolerated between the issuing and the verifying replica.
_LEEWAY_SECONDS = 5


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> "SigningKey":
        x = _b64url(private_key.public_key().public_bytes_raw())
        # RFC 7638: the thumbprint hashes the required members in lexicographic order.
        canonical = msgspec.json.encode({"crv": "Ed25519", "kty": "OKP", "x": x})
        return cls(kid=_b64url(hashlib.sha256(canonical).digest()), private_key=private_key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, str]:
        x = _b64url(self.public_key.public_bytes_raw())
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


class KeyRingError(Exception):
    """The configured keys cannot be used; the message names the file or setting."""


class KeyRing:
    """The signing key (the newest) and every key whose tokens must still verify."""

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise KeyRingError("no signing keys configured")
        self.signing = keys[-1]
        self.by_kid = {key.kid: key.public_key for key in keys}
        self.keys = tuple(keys)

    @classmethod
    def from_pem_bundle(cls, bundle: str) -> "KeyRing":
        """Keys from concatenated PKCS#8 PEM blocks; the last block signs."""
        blocks = [block + _PEM_END for block in bundle.split(_PEM_END) if block.strip()]
        origin = "ORDER_SERVICE_JWT_PRIVATE_KEYS"
        return cls([_load_pem(block.encode(), origin) for block in blocks])

    @classmethod
    def from_directory(cls, directory: Path, *, create_if_empty: bool) -> "KeyRing":
        """Keys from `*.pem` files, in file-name order; the last one signs."""
        files = sorted(directory.glob("*.pem")) if directory.is_dir() else []
        if not files and create_if_empty:
            files = [write_new_key(directory)]
        return cls([_load_pem(path.read_bytes(), str(path)) for path in files])

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.public_jwk() for key in self.keys]}


def write_new_key(directory: Path) -> Path:
    """Generate a key into `directory`, named to sort last, so that it becomes the signing key."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = SigningKey.from_private_key(Ed25519PrivateKey.generate())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{stamp}-{key.kid[:8]}.pem"
    # O_EXCL and 0600: never overwrite a key, never let another user read one.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.to_pem())
    _log.info("signing key created", extra={"kid": key.kid, "path": str(path)})
    return path


def _load_pem(pem: bytes, origin: str) -> SigningKey:
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as error:
        raise KeyRingError(f"{origin}: not a readable PEM private key") from error
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyRingError(f"{origin}: only Ed25519 keys are supported")
    return SigningKey.from_private_key(private_key)


class JwtTokens:
    """TokenIssuer and TokenVerifier: EdDSA JWTs with kid, iss, aud, exp, sub and roles.

    A token that verified is remembered until it expires (a bounded LRU keyed by the whole
    token, signature included): the Ed25519 check and claim validation, most of the CPU of an
    authenticated read, run once per token instead of once per request. A forged or altered
    token is a different key, so it is always verified in full; failures are never cached.
    """

    def __init__(
        self,
        *,
        keys: KeyRing,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        clock: Clock,
        cache_size: int = 16_384,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache_size = cache_size
        # token -> (subject as an int, roles as text, the last instant it verifies): atoms only,
        # so CPython stops tracking each tuple at its first young collection. A Principal and
        # its UUID per token were two objects every full collection walked: with 16,384
        # tokens, the largest part of the heap the collector scanned (docs/performance.md).
        self._verified: OrderedDict[str, tuple[int, str, float]] = OrderedDict()

    def issue(self, principal: Principal) -> IssuedToken:
        now = int(self._clock().timestamp())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(principal.subject),
            "roles": sorted(principal.roles),
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl,
            "jti": uuid.uuid4().hex,
        }
        signing = self._keys.signing
        token = jwt.encode(
            claims, signing.private_key, algorithm=ALGORITHM, headers={"kid": signing.kid}
        )
        return IssuedToken(access_token=token, expires_in=self._ttl)

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        now = self._clock().timestamp()
        expires = _numeric(claims, "exp")
        if expires is None or now > expires + _LEEWAY_SECONDS:
            raise Unauthenticated("the access token has expired")
        not_before = _numeric(claims, "nbf")
        if not_before is not None and now < not_before - _LEEWAY_SECONDS:
            raise Unauthenticated("the access token is not valid yet")

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            if self._clock().timestamp() <= cached[2]:
                self._verified.move_to_end(token)
                # Rebuilt per hit (well under a microsecond): the price of an untracked entry.
                return Principal(uuid.UUID(int=cached[0]), roles_from_text(cached[1]))
            del self._verified[token]
            raise Unauthenticated("the access token has expired")
        principal, valid_until = self._verify_signature_and_claims(token)
        if self._cache_size > 0:
            roles = roles_to_text(principal.roles)
            self._verified[token] = (principal.subject.int, roles, valid_until)
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return principal

    def _verify_signature_and_claims(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise Unauthenticated("the access token is malformed") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated(f"tokens signed with {header.get('alg')!r} are not accepted")
        key = self._keys.by_kid.get(header.get("kid", ""))
        if key is None:
            raise Unauthenticated("the access token was signed by an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                # Time claims are checked below against our clock, so issuing and verifying
                # agree on what "now" is (and tests can move it).
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the access token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the access token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the access token's signature is invalid") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("the access token is invalid") from None
        self._check_lifetime(claims)
        # _check_lifetime accepts while now <= exp + leeway: the cache keeps exactly that window.
        return _principal(claims), float(claims["exp"]) + _LEEWAY_SECONDS


def _numeric(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthenticated(f"the access token's {name} claim is not a number")
    return float(value)


@functools.lru_cache(maxsize=64)
def _role_set(names: tuple[str, ...]) -> frozenset[Role]:
    """One shared set per combination of roles (a handful exist), not one per token."""
    return frozenset(Role(name) for name in names)


def _principal(claims: dict[str, Any]) -> Principal:
    try:
        subject = uuid.UUID(str(claims["sub"]))
        roles = _role_set(tuple(claims.get("roles", [])))
    except (ValueError, TypeError):
        raise Unauthenticated("the access token's claims are invalid") from None
    return Principal(subject=subject, roles=roles)
