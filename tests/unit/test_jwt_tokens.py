import base64
import uuid
from pathlib import Path

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from order_service.adapters.crypto.jwt_tokens import (
    JwtTokens,
    KeyRing,
    KeyRingError,
    SigningKey,
    write_new_key,
)
from order_service.application.ports import Principal
from order_service.domain.errors import Unauthenticated
from order_service.domain.users import Role
from tests.fakes.users import FakeClock

ADA = Principal(subject=uuid.uuid4(), roles=frozenset({Role.CUSTOMER}))


def new_key() -> SigningKey:
    return SigningKey.from_private_key(Ed25519PrivateKey.generate())


def tokens(
    *keys: SigningKey, clock: FakeClock | None = None, issuer: str = "iss", audience: str = "aud"
) -> JwtTokens:
    return JwtTokens(
        keys=KeyRing(keys),
        issuer=issuer,
        audience=audience,
        ttl_seconds=300,
        clock=clock or FakeClock(),
    )


def test_an_issued_token_carries_kid_and_the_required_claims() -> None:
    key = new_key()
    issued = tokens(key).issue(ADA)

    header = jwt.get_unverified_header(issued.access_token)
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA"
    assert header["kid"] == key.kid
    assert claims["sub"] == str(ADA.subject)
    assert claims["roles"] == ["customer"]
    assert claims["iss"] == "iss"
    assert claims["aud"] == "aud"
    assert claims["exp"] - claims["iat"] == 300


def test_a_token_verifies_to_its_principal() -> None:
    service = tokens(new_key())
    assert service.verify(service.issue(ADA).access_token) == ADA


def test_after_rotation_tokens_of_the_previous_key_still_verify() -> None:
    old, new = new_key(), new_key()
    before = tokens(old).issue(ADA).access_token
    rotated = tokens(old, new)

    after = rotated.issue(ADA).access_token

    assert jwt.get_unverified_header(after)["kid"] == new.kid
    assert rotated.verify(before) == ADA
    assert rotated.verify(after) == ADA


def test_once_a_key_is_retired_its_tokens_are_rejected() -> None:
    old, new = new_key(), new_key()
    before = tokens(old).issue(ADA).access_token
    with pytest.raises(Unauthenticated, match="unknown key"):
        tokens(new).verify(before)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(data)).rstrip(b"=").decode()


def _forge(key: SigningKey, **overrides: object) -> str:
    now = int(FakeClock().now.timestamp())
    claims: dict[str, object] = {
        "iss": "iss",
        "aud": "aud",
        "sub": str(ADA.subject),
        "roles": ["admin"],
        "iat": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


KEY = new_key()


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "malformed"),
        ("not-a-jwt", "malformed"),
        ("a.b.c", "malformed"),
        (_forge(KEY)[:-4] + "AAAA", "signature"),
        (
            jwt.encode(
                {"sub": "x"}, new_key().private_key, algorithm="EdDSA", headers={"kid": KEY.kid}
            ),
            "signature",
        ),
        (
            _b64({"alg": "none", "typ": "JWT"}) + "." + _b64({"sub": str(ADA.subject)}) + ".",
            "'none'",
        ),
        (_b64({"alg": "HS256", "kid": KEY.kid}) + "." + _b64({"sub": "x"}) + ".c2ln", "'HS256'"),
        (_forge(new_key()), "unknown key"),
        (_forge(KEY, exp=int(FakeClock().now.timestamp()) - 60), "expired"),
        (_forge(KEY, exp=None), "invalid"),
        (_forge(KEY, exp="tomorrow"), "not a number"),
        (_forge(KEY, iss="someone-else"), "issuer"),
        (_forge(KEY, aud="another-service"), "audience"),
        (_forge(KEY, sub="not-a-uuid"), "claims"),
        (_forge(KEY, roles=["superuser"]), "claims"),
    ],
    ids=[
        "empty",
        "garbage",
        "three-garbage-parts",
        "tampered-signature",
        "foreign-signature",
        "alg-none",
        "alg-hs256",
        "unknown-kid",
        "expired",
        "no-exp",
        "exp-not-a-number",
        "wrong-issuer",
        "wrong-audience",
        "bad-subject",
        "unknown-role",
    ],
)
def test_bad_tokens_are_rejected_saying_why(token: str, reason: str) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        tokens(KEY).verify(token)


def test_hmac_signed_with_the_public_key_is_not_accepted() -> None:
    # The classic algorithm-confusion attack: HS256 keyed with the (public) verification key.
    public = KEY.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    forged = jwt.encode(
        {"sub": str(ADA.subject), "aud": "aud", "iss": "iss", "exp": 2**40},
        public.decode()[:32],
        algorithm="HS256",
        headers={"kid": KEY.kid},
    )
    with pytest.raises(Unauthenticated):
        tokens(KEY).verify(forged)


def test_jwks_publishes_every_verification_key_and_no_private_part() -> None:
    old, new = new_key(), new_key()
    document = KeyRing([old, new]).jwks()

    assert [k["kid"] for k in document["keys"]] == [old.kid, new.kid]
    assert all(set(k) == {"kty", "crv", "x", "kid", "use", "alg"} for k in document["keys"])


def test_a_key_directory_signs_with_its_newest_file(tmp_path: Path) -> None:
    first = write_new_key(tmp_path)
    second = write_new_key(tmp_path)

    ring = KeyRing.from_directory(tmp_path, create_if_empty=False)

    assert len(ring.keys) == 2
    assert first.name < second.name
    assert ring.signing.kid in second.name or second.name.endswith(f"{ring.signing.kid[:8]}.pem")
    assert oct(second.stat().st_mode & 0o777) == "0o600"


def test_an_empty_operator_directory_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="no signing keys"):
        KeyRing.from_directory(tmp_path / "empty", create_if_empty=False)


def test_a_pem_bundle_signs_with_its_last_key() -> None:
    old, new = new_key(), new_key()
    ring = KeyRing.from_pem_bundle((old.to_pem() + new.to_pem()).decode())
    assert ring.signing.kid == new.kid
    assert set(ring.by_kid) == {old.kid, new.kid}


def test_a_bundle_that_is_not_pem_names_the_setting() -> None:
    with pytest.raises(KeyRingError, match="ORDER_SERVICE_JWT_PRIVATE_KEYS"):
        KeyRing.from_pem_bundle("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----")
