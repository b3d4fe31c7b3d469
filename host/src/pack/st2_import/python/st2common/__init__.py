"""StackStorm's `st2common`, as far as pack code imports it, on Squall.

Written for `squall pack import`: only what actions import is here
(`st2common.runners.base_action.Action`, `runners.utils`'s logger,
`util.date` and `util.isotime`); the rest of StackStorm is not.
"""
