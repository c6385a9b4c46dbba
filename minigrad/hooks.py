"""RemovableHandle: what every register_*_hook returns; handle.remove() unregisters the hook."""
import itertools


class RemovableHandle:
    _next_id = itertools.count()

    def __init__(self, hooks):
        self.hooks, self.id = hooks, next(RemovableHandle._next_id)

    def remove(self):
        self.hooks.pop(self.id, None)
