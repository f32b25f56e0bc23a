"""Users, their roles, and the rules for emails and passwords."""

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from order_service.domain.errors import Conflict, InvalidInput, NotFound

MIN_PASSWORD_LENGTH = 12
# argon2 hashes any length, but an unbounded password is a cheap way to burn our CPU.
MAX_PASSWORD_LENGTH = 128
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit

# Deliberately simple: one "@", a dot in the domain, no spaces. Deliverability is proven by
# sending mail, not by a regular expression.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

# The handful of passwords every credential-stuffing list starts with, at our minimum length.
_COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "password1234",
        "passwordpassword",
        "qwertyuiopas",
        "111111111111",
        "iloveyou1234",
        "administrator",
        "letmeinletmein",
        "welcome12345",
        "changeme1234",
        "qwerty123456",
        "abc123456789",
        "passw0rd1234",
        "trustno1trustno1",
    }
)


class Role(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"


class UserNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("user not found")


class EmailAlreadyRegistered(Conflict):
    def __init__(self) -> None:
        super().__init__("a user with this email already exists")


def normalise_email(raw: str) -> str:
    """Trim and lower-case an email so that one mailbox maps to one account."""
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise InvalidInput("email", "email must look like name@example.com")
    return email


def check_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise InvalidInput("name", "name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("name", f"name must be at most {MAX_NAME_LENGTH} characters")
    return name


def check_password_policy(password: str, *, email: str) -> None:
    """Reject passwords that are short, huge, common, or made from the email."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("password", f"password takes at most {MAX_PASSWORD_LENGTH} characters")
    folded = password.lower()
    if folded in _COMMON_PASSWORDS or len(set(folded)) < 4:
        raise InvalidInput("password", "password is too easy to guess")
    local_part = email.split("@", 1)[0]
    if len(local_part) >= 4 and local_part in folded:
        raise InvalidInput("password", "password must not contain the email address")


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    email: str
    name: str
    password_hash: str
    roles: frozenset[Role]
    created_at: datetime
    updated_at: datetime = field(compare=False)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles
