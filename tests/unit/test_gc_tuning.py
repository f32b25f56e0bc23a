"""The second freeze, once the service is warm."""

import gc
import weakref

from order_service.platform.gc_tuning import freeze_when_warm


class Survivor:
    """Long-lived like a pool connection made after start-up: tracked, in a cycle with itself."""

    def __init__(self) -> None:
        self.me = self


async def test_what_survived_until_warm_is_frozen_and_garbage_is_collected_first() -> None:
    kept = Survivor()
    garbage = Survivor()
    collected = weakref.ref(garbage)
    del garbage  # a reference cycle nobody holds: freezing it would keep it forever
    before = gc.get_freeze_count()
    try:
        await freeze_when_warm(0)
        assert collected() is None
        assert gc.get_freeze_count() > before
        assert all(o is not kept for o in gc.get_objects())  # frozen: out of every generation
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())
