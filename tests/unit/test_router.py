import pytest

from order_service.adapters.http.app import Request, Response, Route, Router
from order_service.adapters.http.problems import HttpProblem


async def handler(_request: Request) -> Response:
    return Response()


ROUTES = [
    Route("GET", "/v1/users/me", handler, "me", "", "users"),
    Route("GET", "/v1/users/{id}", handler, "getUser", "", "users"),
    Route("POST", "/v1/users", handler, "register", "", "users"),
    Route("GET", "/v1/orders/{id}/items/{item}", handler, "item", "", "orders"),
]


def test_exact_paths_win_over_templates() -> None:
    route, params = Router(ROUTES).match("GET", "/v1/users/me")
    assert (route.operation_id, params) == ("me", {})


def test_templates_capture_their_parameters() -> None:
    route, params = Router(ROUTES).match("GET", "/v1/orders/o1/items/i2")
    assert route.operation_id == "item"
    assert params == {"id": "o1", "item": "i2"}


@pytest.mark.parametrize("path", ["/v1/users/a/b", "/v1/user", "/", "/v1/users/"])
def test_unknown_paths_are_404(path: str) -> None:
    with pytest.raises(HttpProblem) as raised:
        Router(ROUTES).match("GET", path)
    assert raised.value.status == 404


def test_a_known_path_with_another_method_is_405_listing_the_allowed_ones() -> None:
    with pytest.raises(HttpProblem) as raised:
        Router(ROUTES).match("DELETE", "/v1/users")
    assert raised.value.status == 405
    assert (b"allow", b"POST") in raised.value.headers


def test_head_is_served_by_the_get_route() -> None:
    route, _ = Router(ROUTES).match("HEAD", "/v1/users/me")
    assert route.method == "GET"


def test_a_duplicate_route_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Router([*ROUTES, Route("POST", "/v1/users", handler, "again", "", "users")])
