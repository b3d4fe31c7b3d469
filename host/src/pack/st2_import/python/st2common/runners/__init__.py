"""StackStorm's runner helpers on Squall: `base_action.Action`."""
