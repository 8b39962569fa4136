"""One koji session, one call at a time (issue 13): the log uploader, the task-state check and
the task's own thread share the task's ClientSession, which is not thread-safe."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from koji_containerbuild.builder.task_support import SerialSession, serial_session


class CountingSession:
    """Records how many calls are inside the session at once."""

    def __init__(self) -> None:
        self.opts = {"use_fast_upload": True}
        self.inside = 0
        self.most = 0
        self.calls: list[str] = []
        self._guard = threading.Lock()
        self.host = SimpleNamespace(getTaskInfo=self._call("host.getTaskInfo"))
        self.rawUpload = self._call("rawUpload")  # noqa: N815 - koji's name
        self.uploadWrapper = self._call("uploadWrapper")  # noqa: N815 - koji's name

    def _call(self, name):
        def call(*args, **kwargs):
            with self._guard:
                self.inside += 1
                self.most = max(self.most, self.inside)
            time.sleep(0.002)
            with self._guard:
                self.inside -= 1
                self.calls.append(name)
            return name
        return call


def test_calls_from_many_threads_never_overlap():
    real = CountingSession()
    session = SerialSession(real)
    names = ["rawUpload", "uploadWrapper"]

    def worker(i):
        for _ in range(20):
            assert getattr(session, names[i % 2])(b"x") == names[i % 2]
            assert session.host.getTaskInfo(1) == "host.getTaskInfo"

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(real.calls) == 6 * 40
    assert real.most == 1


def test_attributes_are_the_sessions_own():
    real = CountingSession()
    session = SerialSession(real)
    assert session.opts is real.opts
    assert session.wrapped is real


def test_the_task_gets_one_serial_session_for_good():
    real = CountingSession()
    task = SimpleNamespace(session=real)
    first = serial_session(task)
    assert task.session is first and first.wrapped is real
    assert serial_session(task) is first            # never wrapped twice
