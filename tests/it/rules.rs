//! Rules: loading StackStorm rule YAML, criteria operators, templating, `squall rule test`.
