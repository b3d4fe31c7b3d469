"""`Sensor` and `PollingSensor`, StackStorm's sensor base classes, on Squall.

Squall polls a sensor: each poll makes the class afresh in a new sandbox,
calls `setup()` and then `poll()`, and what `poll()` dispatches through
`self.sensor_service` becomes the poll's events (see `squall_st2`). A
`Sensor` with its own `run()` loop is not converted by the importer.
"""

import abc

__all__ = ["Sensor", "PollingSensor"]


class BaseSensor(abc.ABC):
    """What every sensor has: its service and its config."""

    def __init__(self, sensor_service, config=None):
        self._sensor_service = sensor_service
        self.sensor_service = sensor_service
        self._config = config or {}
        self.config = self._config

    @abc.abstractmethod
    def setup(self):
        pass

    @abc.abstractmethod
    def run(self):
        pass

    @abc.abstractmethod
    def cleanup(self):
        pass

    @abc.abstractmethod
    def add_trigger(self, trigger):
        pass

    @abc.abstractmethod
    def update_trigger(self, trigger):
        pass

    @abc.abstractmethod
    def remove_trigger(self, trigger):
        pass


class Sensor(BaseSensor):
    """A sensor that runs its own loop (not polled by Squall)."""

    @abc.abstractmethod
    def run(self):
        pass


class PollingSensor(BaseSensor):
    """A sensor Squall polls every `poll_interval` seconds (pack.toml's
    `interval`, which the importer took from the sensor's metadata)."""

    def __init__(self, sensor_service, config=None, poll_interval=5):
        super().__init__(sensor_service=sensor_service, config=config)
        self._poll_interval = poll_interval

    @abc.abstractmethod
    def poll(self):
        pass

    def run(self):
        # Squall calls poll() itself, once per interval.
        self.poll()

    def get_poll_interval(self):
        return self._poll_interval

    def set_poll_interval(self, poll_interval):
        # The host keeps the interval pack.toml declares.
        self._poll_interval = poll_interval
