"""HTTP routes of the Auth API: register, token, users, JWKS."""

import uuid

import msgspec

from order_service.adapters.crypto.jwt_tokens import KeyRing
from order_service.adapters.http.app import Request, Response, Route, json_response
from order_service.adapters.http.problems import HttpProblem
from order_service.adapters.http.schemas import Jwks, RegisterUser, TokenOut, TokenRequest, UserOut
from order_service.application.accounts import Accounts

_BODY_PROBLEMS = (400, 413, 415, 422)
_AUTH_PROBLEMS = (401, 403)


def auth_routes(accounts: Accounts, keys: KeyRing) -> list[Route]:
    jwks_body = msgspec.json.encode(keys.jwks())

    async def register(request: Request) -> Response:
        body: RegisterUser = request.payload
        user = await accounts.register(email=body.email, name=body.name, password=body.password)
        return json_response(
            UserOut.of(user), 201, [(b"location", f"/v1/users/{user.id}".encode())]
        )

    async def token(request: Request) -> Response:
        body: TokenRequest = request.payload
        issued = await accounts.log_in(
            email=body.email, password=body.password, client=request.client
        )
        out = TokenOut(
            access_token=issued.access_token,
            expires_in=issued.expires_in,
            token_type=issued.token_type,
        )
        # RFC 6749 5.1: responses carrying tokens must not be cached.
        return json_response(out, headers=[(b"cache-control", b"no-store")])

    async def me(request: Request) -> Response:
        principal = request.authenticated
        return json_response(UserOut.of(await accounts.get_user(principal, principal.subject)))

    async def get_user(request: Request) -> Response:
        try:
            user_id = uuid.UUID(request.path_params["id"])
        except ValueError:
            raise HttpProblem(400, "bad-id", "the user id must be a UUID") from None
        return json_response(UserOut.of(await accounts.get_user(request.authenticated, user_id)))

    async def jwks(_request: Request) -> Response:
        # Short caching: verifiers pick up a rotated key within five minutes.
        return Response(200, jwks_body, [(b"cache-control", b"public, max-age=300")])

    return [
        Route(
            "POST",
            "/v1/users",
            register,
            "registerUser",
            "Register a customer",
            "users",
            body=RegisterUser,
            responses={201: UserOut},
            problems=(*_BODY_PROBLEMS, 409, 503),
        ),
        Route(
            "POST",
            "/v1/auth/token",
            token,
            "issueToken",
            "Exchange email and password for an access token",
            "auth",
            body=TokenRequest,
            responses={200: TokenOut},
            problems=(*_BODY_PROBLEMS, 401, 429, 503),
        ),
        Route(
            "GET",
            "/v1/users/me",
            me,
            "getCurrentUser",
            "Read the calling user",
            "users",
            responses={200: UserOut},
            problems=(*_AUTH_PROBLEMS, 404),
            authenticated=True,
        ),
        Route(
            "GET",
            "/v1/users/{id}",
            get_user,
            "getUser",
            "Read a user (a customer reads only itself; an admin anyone)",
            "users",
            responses={200: UserOut},
            problems=(400, *_AUTH_PROBLEMS, 404),
            authenticated=True,
        ),
        Route(
            "GET",
            "/.well-known/jwks.json",
            jwks,
            "getJwks",
            "The public keys that verify access tokens",
            "auth",
            responses={200: Jwks},
        ),
    ]
