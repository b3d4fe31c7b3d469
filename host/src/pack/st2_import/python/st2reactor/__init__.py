"""StackStorm's `st2reactor`, as far as sensors import it, on Squall."""
