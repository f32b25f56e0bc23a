import uuid

import pytest

from order_service.domain.errors import InvalidInput
from order_service.domain.ids import new_id
from order_service.domain.users import check_name, check_password_policy, normalise_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("  ada@example.com \n", "ada@example.com"),
        ("ada.lovelace+orders@mail.example.org", "ada.lovelace+orders@mail.example.org"),
    ],
)
def test_emails_are_normalised_so_one_mailbox_is_one_account(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "a da@example.com",
        "ada@@example.com",
        "x" * 250 + "@example.com",
    ],
)
def test_malformed_emails_are_rejected_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        normalise_email(raw)
    assert raised.value.field == "email"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "at least"),
        ("x" * 129, "at most"),
        ("password1234", "easy to guess"),
        ("aaaaaaaaaaaaaaa", "easy to guess"),
        ("my-adalovelace-pass", "email"),
    ],
)
def test_weak_passwords_are_rejected_with_the_reason(password: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as raised:
        check_password_policy(password, email="adalovelace@example.com")
    assert raised.value.field == "password"


def test_a_long_varied_password_is_accepted() -> None:
    check_password_policy("correct horse battery staple", email="ada@example.com")


def test_names_are_trimmed_and_must_not_be_blank() -> None:
    assert check_name("  Ada  ") == "Ada"
    with pytest.raises(InvalidInput):
        check_name("   ")
    with pytest.raises(InvalidInput):
        check_name("n" * 201)


def test_ids_are_uuid7_and_sort_by_creation_time() -> None:
    ids = [new_id() for _ in range(50)]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == 50
    # Same-millisecond ids are random among themselves, but the millisecond prefix never goes back.
    prefixes = [i.int >> 80 for i in ids]
    assert prefixes == sorted(prefixes)
