"""OpenAPI 3.1 from the route table: the document cannot drift from what is served."""

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import msgspec

from order_service.adapters.http.app import Route
from order_service.adapters.http.problems import Problem

_REF = "#/components/schemas/{name}"
_PATH_PARAMETER_SCHEMAS: Mapping[str, dict[str, str]] = {"id": {"type": "string"}}


def openapi_document(routes: Sequence[Route], *, title: str, version: str) -> dict[str, Any]:
    types: list[Any] = [Problem]
    for route in routes:
        if route.body is not None:
            types.append(route.body)
        types.extend(t for t in route.responses.values() if t is not None)
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    refs = dict(zip(types, schemas, strict=True))

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "operationId": route.operation_id,
            "summary": route.summary,
            "tags": [route.tag],
            "responses": {},
        }
        if route.path_params:
            operation["parameters"] = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": _PATH_PARAMETER_SCHEMAS.get(name, {"type": "string"}),
                }
                for name in route.path_params
            ]
        for location, parameters in (("query", route.query), ("header", route.headers)):
            if parameters:
                operation.setdefault("parameters", []).extend(
                    {
                        "name": parameter.name,
                        "in": location,
                        "required": parameter.required,
                        "description": parameter.description,
                        "schema": dict(parameter.schema),
                    }
                    for parameter in parameters
                )
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[route.body]}},
            }
        if route.authenticated:
            operation["security"] = [{"bearerAuth": []}]
        for status, schema in route.responses.items():
            response: dict[str, Any] = {"description": HTTPStatus(status).phrase}
            if schema is not None:
                response["content"] = {route.content_type: {"schema": refs[schema]}}
            operation["responses"][str(status)] = response
        for status in route.problems:
            operation["responses"][str(status)] = {
                "description": HTTPStatus(status).phrase,
                "content": {"application/problem+json": {"schema": refs[Problem]}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
