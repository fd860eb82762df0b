"""Where a sampled process spends its time: rank the frames of a folded-stacks profile.

    python bench/profile_summary.py bench/results/worker.folded [--top 30] [--match llmpulse]

Input: one ``frame;frame;...;frame count`` line per distinct stack (py-spy's ``raw``
format).  Output: the share of samples each function appears in (inclusive: it or
what it called was running) and the share where it was the innermost frame (self),
for functions whose frame text contains ``--match`` (all with ``--match ''``).
Idle time (threads waiting in select/epoll/sleep) is counted and reported apart.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\b(select|poll|epoll|_run_once|sleep|wait|acquire)\b")


def frame_name(frame: str) -> str:
    """``function (path/to/module.py:line)`` without the line number."""
    return re.sub(r":\d+\)$", ")", frame.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="llmpulse")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = idle = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";")]
        total += n
        if IDLE.search(frames[-1]):
            idle += n
            continue
        for name in set(frames):
            if args.match in name:
                inclusive[name] += n
        if args.match in frames[-1]:
            own[frames[-1]] += n
    busy = total - idle
    print(f"{total} samples, {idle / total:.0%} idle (waiting); shares below are of the "
          f"{busy} busy samples")
    print(f"{'inclusive':>9} {'self':>6}  function")
    for name, n in inclusive.most_common(args.top):
        print(f"{n / busy:>9.1%} {own[name] / busy:>6.1%}  {name}")


if __name__ == "__main__":
    main()
