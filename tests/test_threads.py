"""Helper threads never take kojid's SIGINT/SIGTERM away from the task's main thread."""

from __future__ import annotations

import signal
import threading

from koji_containerbuild.threads import start_shielded


def test_shielded_threads_block_kojids_signals_and_the_main_thread_does_not():
    seen = {}

    def look():
        seen["mask"] = signal.pthread_sigmask(signal.SIG_BLOCK, [])

    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    start_shielded(threading.Thread(target=look)).join()
    assert {signal.SIGINT, signal.SIGTERM} <= seen["mask"]
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
    assert signal.SIGINT not in before
