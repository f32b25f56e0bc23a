"""order-service: Auth API, order router, image thumbnailer and search in one codebase."""

try:
    # Written by the build (hatch-vcs); reading it costs nothing, unlike importlib.metadata,
    # whose import and distribution scan every process would pay at start-up.
    from order_service._version import __version__ as __version__
except ImportError:  # a source tree that was never built or installed
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("order-service")
    except PackageNotFoundError:
        __version__ = "0.0.0"
