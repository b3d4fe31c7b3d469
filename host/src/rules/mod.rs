//! Rules: StackStorm rule YAML, criteria operators, parameter templating, the trigger-type index. Pure: no IO.
