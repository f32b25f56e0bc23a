"""Where the delivery tests find the tools they drive."""

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def dev_tool(name: str) -> str:
    """A command installed with the dev dependencies, found beside the running interpreter."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is missing: `uv sync` installs it with the dev dependencies"
    return found
