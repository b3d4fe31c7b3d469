"""StackStorm's `st2common.runners.utils`, as far as pack code uses it:
`get_logger_for_python_runner_action`, the logger `Action` has."""

import logging

__all__ = ["get_logger_for_python_runner_action"]


def get_logger_for_python_runner_action(action_name, log_level="debug"):
    """The logger of the Python action `action_name`
    (`actions.python.NAME`), writing to Squall's log at `log_level` and
    above."""
    # Imported here, as `base_action` does: `squall_st2` imports the layer.
    import squall_st2

    logger = squall_st2.logger_for(action_name)
    level = logging.getLevelName(str(log_level).upper())
    logger.setLevel(level if isinstance(level, int) else logging.DEBUG)
    return logger
