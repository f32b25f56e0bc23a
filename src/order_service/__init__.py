"""order-service: Auth API, order router, image thumbnailer and search in one codebase."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("order-service")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
