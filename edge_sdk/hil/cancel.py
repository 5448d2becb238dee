"""A cancelled job unwinds like Ctrl-C, so every `finally` runs: labgrid places are released,
emulated boards and sshd stopped, results.jsonl keeps what was measured. CI runners cancel with
SIGTERM (Python's default would end the process at once, skipping all of that), people with
SIGINT, a closed terminal with SIGHUP.

JobCancelled derives from KeyboardInterrupt, not Exception, so the `except Exception` around
device I/O cannot swallow it and turn a cancel into a device error.
"""
from __future__ import annotations

import signal
from contextlib import contextmanager

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class JobCancelled(KeyboardInterrupt):
    def __init__(self, signum: int):
        self.signum = signum
        self.signame = signal.Signals(signum).name
        super().__init__(f"{self.signame}: run cancelled")


@contextmanager
def cancel_on_signals(signals=SIGNALS):
    """Inside the block the first of `signals` raises JobCancelled; later ones are ignored while
    the block cleans up (a second Ctrl-C must not cut a place release short). Old handlers come
    back on exit. Outside the main thread (no signals there) it does nothing."""
    fired: list[int] = []

    def handler(signum, frame):
        if fired:
            return
        fired.append(signum)
        raise JobCancelled(signum)

    old = {}
    try:
        for s in signals:
            old[s] = signal.signal(s, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
