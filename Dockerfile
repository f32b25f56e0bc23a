# syntax=docker/dockerfile:1.7
# order-service: one image, two roles (`serve`, `worker`). Build:
#   docker build --build-arg VERSION=$(git describe --tags) --build-arg REVISION=$(git rev-parse HEAD) .
# Why this base: docs/adr/0020-container-base-image.md.

# ---- builder: the locked dependencies and the service in a virtual environment -------------
# Debian 12's own Python 3.11, the same interpreter the distroless runtime ships at
# /usr/bin/python3, so the venv built here runs there unchanged.
FROM debian:12.11-slim AS builder

ARG VERSION=0.0.0
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv=3.11.2-1+b1 \
 && rm -rf /var/lib/apt/lists/*

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

WORKDIR /src
# Dependencies first: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN python3 -m venv /opt/venv \
 && uv export --frozen --no-dev --no-emit-project --no-header -o /tmp/requirements.txt \
 && uv pip install --python /opt/venv/bin/python --require-hashes -r /tmp/requirements.txt

# Then the service itself. hatch-vcs reads the version from git tags; there is no .git in the
# build context, so the release workflow passes it in.
COPY src ./src
RUN SETUPTOOLS_SCM_PRETEND_VERSION="${VERSION}" uv build --wheel --out-dir /tmp/dist \
 && uv pip install --python /opt/venv/bin/python --no-deps /tmp/dist/*.whl \
 && /opt/venv/bin/order-service --version \
 && mkdir -p /var/lib/order-service

# ---- runtime: distroless Python, no shell, no package manager, non-root ----------------------
FROM gcr.io/distroless/python3-debian12:nonroot@sha256:17b27c84c985a53d0cd2adef4f196ca327fa9b6755369be605cf45533b4e700b AS runtime

ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="order-service" \
      org.opencontainers.image.description="Auth API, order router, image thumbnailer and search" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/example/order-service" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="gcr.io/distroless/python3-debian12:nonroot"

# Bytecode was compiled in the builder; the root filesystem is read-only at run time.
# Every write goes to ORDER_SERVICE_VAR_DIR, a mounted volume.
ENV PATH=/opt/venv/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORDER_SERVICE_HTTP_HOST=0.0.0.0 \
    ORDER_SERVICE_HTTP_PORT=8080 \
    ORDER_SERVICE_VAR_DIR=/var/lib/order-service

COPY --from=builder /opt/venv /opt/venv
# Owned by the runtime user, so an anonymous volume created from it is writable too.
COPY --from=builder --chown=65532:65532 /var/lib/order-service /var/lib/order-service

# 65532 is distroless's `nonroot`. The volume keeps the data directory writable even when the
# container runs with a read-only root filesystem.
USER 65532:65532
WORKDIR /var/lib/order-service
VOLUME ["/var/lib/order-service"]
EXPOSE 8080

# uvicorn drains on SIGTERM (readiness false, in-flight requests finish).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/venv/bin/order-service"]
CMD ["serve"]
