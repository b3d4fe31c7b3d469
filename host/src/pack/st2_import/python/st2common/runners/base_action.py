"""`Action`, the base class of StackStorm's Python actions, on Squall.

The constructor takes `config` and `action_service` as StackStorm's does;
`self.config` is the pack's config (a missing key is an error naming it),
`self.logger` writes through Squall's `log` import, and
`self.action_service` reaches the datastore through `kv` and `secrets`
(see `squall_st2`).
"""

import abc

__all__ = ["Action"]


class Action(abc.ABC):
    """Base class of Python actions: subclass it and implement `run`."""

    description = None

    def __init__(self, config=None, action_service=None):
        # Imported here: `squall_st2` imports this module for the class.
        import squall_st2

        self.action_service = action_service
        pack = getattr(action_service, "pack", None) or "unknown"
        self.config = squall_st2.PackConfig(pack, config or {})
        self.logger = squall_st2.logger_for(type(self).__name__)

    @abc.abstractmethod
    def run(self, **kwargs):
        pass
