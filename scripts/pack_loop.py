#!/usr/bin/env python3
"""Time from `squall pack new` to a result through a rule, per language (not
in CI): runs docs/packs.md as the tour test does (scaffold, local build and
runs, key, signed build, trust, install, webhook, the execution's result),
twice, and prints the second run's figures; the first run fills the
toolchains' caches (cargo's registry and dependencies, the compile cache), which
is the "first build" the figures leave out.

    python3 scripts/pack_loop.py            # about 3 minutes on 2 cores

The steps and their times come from the tour's own log lines
(`tour: docs/packs.md (--lang L):LINE: N ms: COMMAND`); the figure is the
sum from `pack new` to the `execution get` that shows the result, so it is
what a pack author following the guide waits for, without typing time.
Figures go in docs/benchmarks.md ("From pack new to a result").
"""

import re
import subprocess
import sys

LINE = re.compile(r"^tour: docs/packs\.md \(--lang (\w+)\):(\d+): (\d+) ms: (.*)$")


def run_once():
    command = [
        "cargo", "test", "-q", "-p", "squall-tests", "--test", "it", "--",
        "tour::packs_guide", "--exact", "--nocapture",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        sys.exit("the docs/packs.md tour failed; fix it first (cargo test -p squall-tests --test it -- tour::packs_guide)")
    steps = {}
    for line in done.stderr.splitlines():
        match = LINE.match(line)
        if match:
            language, _, millis, text = match.groups()
            steps.setdefault(language, []).append((int(millis), text.split("#")[0].strip()))
    return steps


def loop_figures(steps):
    """Per language: (total ms from pack new to the result, build ms, the steps)."""
    figures = {}
    for language, list_ in steps.items():
        start = next(i for i, (_, t) in enumerate(list_) if t.startswith("squall pack new"))
        end = next(i for i, (_, t) in enumerate(list_) if "squall execution get" in t)
        chosen = list_[start:end + 1]
        build = sum(ms for ms, t in chosen if t.startswith("squall pack build"))
        figures[language] = (sum(ms for ms, _ in chosen), build, chosen)
    return figures


def main():
    print("warming up (first run: dependencies, toolchains, compile cache) ...", file=sys.stderr)
    run_once()
    figures = loop_figures(run_once())
    print("| language | pack new → result through a rule | of which pack build (2 builds) |")
    print("|---|---:|---:|")
    for language in ("rust", "python", "js"):
        if language in figures:
            total, build, _ = figures[language]
            print(f"| {language} | {total / 1000:.1f} s | {build / 1000:.1f} s |")
    print()
    for language in ("rust", "python", "js"):
        if language in figures:
            print(f"{language}:")
            for ms, text in figures[language][2]:
                print(f"  {ms:>7} ms  {text}")


if __name__ == "__main__":
    main()
