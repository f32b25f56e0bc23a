"""The directory where worker processes keep their metric values (docs/adr/0010).

Kept apart from `metrics.py` because it must run before prometheus_client is imported:
the library picks its storage (in memory or memory-mapped files) at import time.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def multiprocess_metrics_dir() -> Iterator[Path]:
    """Point PROMETHEUS_MULTIPROC_DIR at an empty directory for the workers about to start.

    An operator's own directory (an emptyDir volume, say) is emptied, since values left by
    a previous run would be added to this one's; otherwise a temporary directory is made
    and removed on exit.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.iterdir():
            if leftover.suffix in {".db", ".json", ".tmp"}:
                leftover.unlink()
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="order-service-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)
