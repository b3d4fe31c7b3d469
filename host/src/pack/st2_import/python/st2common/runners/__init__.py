"""StackStorm's runner helpers on Squall: `base_action.Action` and
`utils.get_logger_for_python_runner_action`."""
