"""The Auth API's use cases: register, log in, read users."""

import uuid

from order_service.application.ports import (
    Clock,
    FailureThrottle,
    IssuedToken,
    PasswordHasher,
    Principal,
    ThrottleKey,
    TokenIssuer,
    UserRepository,
)
from order_service.application.search import SearchIndexer, index_quietly
from order_service.domain.errors import Forbidden, InvalidInput, Throttled, Unauthenticated
from order_service.domain.ids import new_id
from order_service.domain.search import user_document
from order_service.domain.users import (
    EmailAlreadyRegistered,
    Role,
    User,
    UserNotFound,
    check_name,
    check_password_policy,
    normalise_email,
)

_BAD_CREDENTIALS = "email or password is wrong"


class Accounts:
    """Registration, log-in and user reads, with the authorisation rules of the Auth API."""

    def __init__(
        self,
        *,
        users: UserRepository,
        hasher: PasswordHasher,
        tokens: TokenIssuer,
        throttle: FailureThrottle,
        clock: Clock,
        max_failures_per_email: int,
        max_failures_per_client: int,
        indexer: SearchIndexer | None = None,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._tokens = tokens
        self._throttle = throttle
        self._clock = clock
        self._max_failures_per_email = max_failures_per_email
        self._max_failures_per_client = max_failures_per_client
        self._dummy_hash: str | None = None
        self._indexer = indexer

    async def register(
        self, *, email: str, name: str, password: str, roles: frozenset[Role] | None = None
    ) -> User:
        """Create a user; InvalidInput for a bad field, EmailAlreadyRegistered on a duplicate."""
        normalised = normalise_email(email)
        checked_name = check_name(name)
        check_password_policy(password, email=normalised)
        # Cheap duplicate check first, so a taken email does not cost an argon2 hash;
        # the repository's unique index still decides races.
        if await self._users.get_by_email(normalised) is not None:
            raise EmailAlreadyRegistered
        now = self._clock()
        user = User(
            id=new_id(),
            email=normalised,
            name=checked_name,
            password_hash=await self._hasher.hash(password),
            roles=roles or frozenset({Role.CUSTOMER}),
            created_at=now,
            updated_at=now,
        )
        await self._users.save(user)
        await index_quietly(
            self._indexer, user_document(user_id=user.id, email=user.email, name=user.name)
        )
        return user

    async def create_admin(self, *, email: str, name: str, password: str) -> User:
        """Register an admin, or promote the existing user with this email to admin."""
        existing = await self._users.get_by_email(normalise_email(email))
        if existing is None:
            return await self.register(
                email=email,
                name=name,
                password=password,
                roles=frozenset({Role.ADMIN, Role.CUSTOMER}),
            )
        promoted = User(
            id=existing.id,
            email=existing.email,
            name=existing.name,
            password_hash=existing.password_hash,
            roles=existing.roles | {Role.ADMIN},
            created_at=existing.created_at,
            updated_at=self._clock(),
        )
        await self._users.save(promoted)
        return promoted

    async def log_in(self, *, email: str, password: str, client: str) -> IssuedToken:
        """Exchange credentials for an access token.

        Unknown emails and wrong passwords fail the same way and take the same time; repeated
        failures per email or per client are throttled before any hashing is done.
        """
        try:
            normalised = normalise_email(email)
        except InvalidInput:
            normalised = email.strip().lower()[:254]
        keys = (
            ThrottleKey(f"email:{normalised}", self._max_failures_per_email),
            ThrottleKey(f"client:{client}", self._max_failures_per_client),
        )
        wait = await self._throttle.retry_after(keys)
        if wait > 0:
            raise Throttled("too many failed log-in attempts", retry_after=wait)

        user = await self._users.get_by_email(normalised)
        if user is None:
            # Verify against a dummy hash so unknown emails take as long as known ones.
            await self._hasher.verify(await self._get_dummy_hash(), password)
            await self._throttle.record_failure(keys)
            raise Unauthenticated(_BAD_CREDENTIALS)
        if not await self._hasher.verify(user.password_hash, password):
            await self._throttle.record_failure(keys)
            raise Unauthenticated(_BAD_CREDENTIALS)

        await self._throttle.reset(keys[0].key)
        if self._hasher.needs_rehash(user.password_hash):
            await self._rehash(user, password)
        return self._tokens.issue(Principal(subject=user.id, roles=user.roles))

    async def get_user(self, principal: Principal, user_id: uuid.UUID) -> User:
        """A customer may read only itself; an admin may read anyone."""
        # Decided before the lookup, so a customer cannot probe which ids exist.
        if user_id != principal.subject and not principal.is_admin:
            raise Forbidden("you may only read your own user")
        user = await self._users.get_by_id(user_id)
        if user is None:
            raise UserNotFound
        return user

    async def _rehash(self, user: User, password: str) -> None:
        upgraded = User(
            id=user.id,
            email=user.email,
            name=user.name,
            password_hash=await self._hasher.hash(password),
            roles=user.roles,
            created_at=user.created_at,
            updated_at=self._clock(),
        )
        await self._users.save(upgraded)

    async def _get_dummy_hash(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(uuid.uuid4().hex)
        return self._dummy_hash
