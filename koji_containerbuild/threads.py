"""Helper threads that leave kojid's signals to the task's main thread.

kojid cancels a task by sending its process SIGINT, then SIGTERM (reference/koji-plugin-api.md
§2.6). The kernel may hand a process signal to any thread that does not block it; Python then
only sets a flag, and a main thread blocked in a socket read notices it when the read times
out — tens of seconds later. Threads started here block both signals, so they always reach the
main thread at once and interrupt what it is waiting on.
"""

from __future__ import annotations

import signal
import threading

KOJID_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def start_shielded(thread: threading.Thread) -> threading.Thread:
    """Start ``thread`` with SIGINT/SIGTERM blocked in it (it inherits the mask at start)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, KOJID_SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return thread
