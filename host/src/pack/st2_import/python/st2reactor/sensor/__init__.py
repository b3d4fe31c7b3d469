"""StackStorm's sensor base classes on Squall: `base.PollingSensor`."""
