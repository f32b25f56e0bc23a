"""Which tasks are running: compared before and after, to prove that none was leaked."""

import asyncio


def other_tasks() -> set[asyncio.Task[object]]:
    """Every task of the running loop but the caller's own."""
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}
