"""GET /metrics: the Prometheus scrape of every worker process's totals."""

from order_service.adapters.http.app import Request, Response, Route
from order_service.platform.metrics import Metrics


def metrics_routes(metrics: Metrics) -> list[Route]:
    async def scrape(request: Request) -> Response:
        # Prometheus asks for OpenMetrics (which carries exemplars) in its Accept header.
        accept = (request.header(b"accept") or b"").decode("latin-1")
        body, content_type = metrics.exposition(accept)
        return Response(
            200, body, [(b"cache-control", b"no-store")], content_type=content_type.encode()
        )

    return [
        Route(
            "GET",
            "/metrics",
            scrape,
            "metrics",
            "Prometheus metrics of all worker processes",
            "probes",
            responses={200: None},
            probe=True,
            content_type="text/plain",
        )
    ]
