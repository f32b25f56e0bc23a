"""The root of every domain error; transport adapters map subclasses to statuses."""


class DomainError(Exception):
    """A rule of the domain was broken; the message is safe to show to the caller."""


class NotFound(DomainError):
    """The thing asked for does not exist, or the caller may not know that it does."""


class Conflict(DomainError):
    """The request contradicts the current state (a duplicate, a lost race)."""


class InvalidInput(DomainError):
    """A value is well-formed JSON but breaks a domain rule; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Unauthenticated(DomainError):
    """The caller did not prove who it is."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class Throttled(DomainError):
    """Too many attempts; try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency is down or the service is over capacity; safe to retry later."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
