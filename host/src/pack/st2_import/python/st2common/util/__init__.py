"""StackStorm's `st2common.util` helpers on Squall: `date` and `isotime`,
the two that Exchange packs import (see docs/st2-migration.md)."""
