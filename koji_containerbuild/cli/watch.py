"""``--watch-logs``: the build's ``orchestrator.log`` in the terminal while the task runs, the way
``oc start-build --follow`` shows a build log, read from the task output the hub already serves.

Polls as ``koji watch-logs`` does (``getTaskInfo``, ``listTaskOutput``, ``downloadTaskOutput``
from the last offset), so no hub API is added and anonymous sessions can watch. The builder
uploads the log as it grows; a file that shrinks (an upload restarted from its start) is shown
again from its start, after a note, so nothing is skipped.
"""

from __future__ import annotations

import sys
import time
from typing import Any, BinaryIO, Callable, Optional

import koji

MAIN_LOG = "orchestrator.log"
CHUNK = 64 * 1024
DONE_STATES = ("CLOSED", "CANCELED", "FAILED")


class LogWatch:
    """Copies one task output file to ``out`` as it grows, until the task ends."""

    def __init__(self, session: Any, task_id: int, *, log_name: str = MAIN_LOG,
                 out: Optional[BinaryIO] = None, notes: Any = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.session = session
        self.task_id = task_id
        self.log_name = log_name
        self.out = out if out is not None else sys.stdout.buffer
        self.notes = notes if notes is not None else sys.stderr
        self.sleep = sleep
        self.offset = 0
        self._ends_with_newline = True

    def follow(self, poll_interval: float) -> str:
        """Show the log until the task is done; return the task's final state name."""
        while True:
            info = self.session.getTaskInfo(self.task_id)
            if info is None:
                raise koji.GenericError(f"No such task: {self.task_id}")
            state = koji.TASK_STATES[info["state"]]
            self.drain()   # after reading the state: a finished task's log is complete
            if state in DONE_STATES:
                self.finish_line()
                return state
            self.sleep(poll_interval)

    def drain(self) -> None:
        """Print what was added to the log since the last look."""
        size = self._size()
        if size is None:
            return
        if size < self.offset:
            self.finish_line()
            self.out.flush()
            print(f"[{self.log_name} was uploaded again from its start; showing it again]",
                  file=self.notes, flush=True)
            self.offset = 0
        while True:
            chunk = self.session.downloadTaskOutput(self.task_id, self.log_name, self.offset,
                                                    CHUNK)
            if not chunk:
                break
            self.offset += len(chunk)
            self.out.write(chunk)
            self._ends_with_newline = chunk.endswith(b"\n")
            if len(chunk) < CHUNK:
                break
        self.out.flush()

    def finish_line(self) -> None:
        """End an unterminated last line, so what follows starts on its own line."""
        if not self._ends_with_newline:
            self.out.write(b"\n")
            self.out.flush()
            self._ends_with_newline = True

    def _size(self) -> Optional[int]:
        files = self.session.listTaskOutput(self.task_id, stat=True)
        entry = files.get(self.log_name) if isinstance(files, dict) else None
        if entry is None:
            return None
        return int(entry.get("st_size", 0))   # koji sends sizes as strings (XML-RPC ints)


def interrupted_lines(task_id: int, log_name: str = MAIN_LOG) -> list[str]:
    """What Ctrl-C during the watch prints: the build goes on, and how to watch it again."""
    return [
        "",
        f"Stopped watching. Task {task_id} and its build are still running (Ctrl-C does not "
        "cancel them).",
        f"Watch the log again: koji watch-logs --log {log_name} {task_id}",
        f"Wait for the result: koji watch-task {task_id}",
        f"Cancel the build: koji cancel {task_id}",
    ]
