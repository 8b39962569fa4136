"""Task log handling for the builder: follow the build log → demultiplex → upload.

Three pieces, each usable alone:

* ``LogDemux`` (``demux.py``) turns the byte stream into ``orchestrator.log``,
  ``<platform>.log``, ``user_warnings.log`` and a scratch build's ``metadata.json``;
* ``TaskLogUploader`` (``upload.py``) ships the growing files to the hub;
* ``LogFollower`` (here) runs the stream through the demuxer in a thread and keeps the
  error if the stream breaks, so the task can fail instead of ending with a truncated log.

Typical wiring in the builder::

    uploader = TaskLogUploader(session, outdir, koji.pathinfo.taskrelpath(task_id)).start()
    demux = LogDemux(outdir, metadata_root=koji.pathinfo.work(), on_data=uploader.notify)
    follower = LogFollower(lambda: client.follow_build_log(name, cancel=cancel), demux,
                           cancel=cancel).start()
    try:
        ... wait for the build (watch) ...
        follower.join(timeout=30)          # the stream ends shortly after the build
        follower.raise_if_failed()         # unless the build's own outcome says otherwise
    finally:
        follower.stop()
        uploader.final_upload(timeout=2.0)     # success, failure and cancel alike
        uploader.close()
    result["user_warnings"] = demux.user_warnings   # when non-empty
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Callable, Optional, Union

from koji_containerbuild.logs.demux import LogDemux
from koji_containerbuild.logs.lines import parse_log_line
from koji_containerbuild.logs.platform_files import (
    COMBINED_LOG,
    METADATA_TAG,
    ORCHESTRATOR_LOG,
    USER_WARNINGS_LOG,
)
from koji_containerbuild.logs.upload import TaskLogUploader
from koji_containerbuild.prefixed import PrefixedLines
from koji_containerbuild.threads import start_shielded

LogPiece = Union[bytes, PrefixedLines]    # what LogDemux.feed takes

__all__ = [
    "COMBINED_LOG",
    "METADATA_TAG",
    "ORCHESTRATOR_LOG",
    "USER_WARNINGS_LOG",
    "LogDemux",
    "LogFollowError",
    "LogFollower",
    "TaskLogUploader",
    "parse_log_line",
]


class LogFollowError(Exception):
    """Following the build log failed; the task log would be incomplete."""


class LogFollower:
    """Feed a build-log stream into a ``LogDemux`` from a background thread.

    ``stream_factory`` returns an iterable of bytes chunks or ``PrefixedLines`` (the
    OpenShift client's ``follow_build_log``); it is called in the thread, so connecting does
    not block the task. A failure of the stream or of writing the files is kept in ``error``
    — never swallowed — unless it happened after ``stop()``, when a broken stream is the
    expected outcome.

    ``stop()`` sets ``cancel`` and calls ``interrupt`` (if given) to unblock a read that
    waits for data; the thread also checks ``cancel`` between chunks. The stream should
    watch the same ``cancel`` event (an ``openshift.watch.CancelEvent`` closes its open
    streams when set) for the stop to be prompt while the build is silent.
    """

    def __init__(self, stream_factory: Callable[[], Iterable[LogPiece]], demux: LogDemux, *,
                 cancel: Optional[threading.Event] = None,
                 interrupt: Optional[Callable[[], None]] = None,
                 logger: Optional[logging.Logger] = None,
                 name: str = "osbs-log-follower") -> None:
        self._factory = stream_factory
        self.demux = demux
        self.cancel = cancel if cancel is not None else threading.Event()
        self._interrupt = interrupt
        self._log = logger or logging.getLogger(__name__)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self.error: Optional[BaseException] = None
        self.cancelled = False

    def start(self) -> LogFollower:
        """Start following; returns self."""
        if not self._started:
            self._started = True
            start_shielded(self._thread)
        return self

    @property
    def done(self) -> bool:
        """True once the stream ended (or failed, or was stopped) and the files are closed."""
        return self._started and not self._thread.is_alive()

    def join(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        """Wait for the thread; returns ``error`` (None: complete, or stopped on request).
        Check ``done`` when a timeout is given."""
        if self._started:
            self._thread.join(timeout)
        return self.error

    def raise_if_failed(self) -> None:
        """Raise ``LogFollowError`` if the stream or the files failed."""
        if self.error is not None:
            raise LogFollowError(f"Following the build log failed: "
                                 f"{type(self.error).__name__}: {self.error}") from self.error

    def stop(self) -> None:
        """Ask the thread to stop (cancel) without waiting for it."""
        self.cancel.set()
        if self._interrupt is not None:
            try:
                self._interrupt()
            except Exception as exc:  # noqa: BLE001 - best effort; the cancel flag still stops us
                self._log.debug("Interrupting the log stream failed: %s", exc)

    def _run(self) -> None:
        stream: Optional[Iterable[LogPiece]] = None
        try:
            stream = self._factory()
            if stream is None:
                raise LogFollowError("no log stream (build not running yet?)")
            for chunk in stream:
                self.demux.feed(chunk)          # bytes in hand are kept, even on cancel
                if self.cancel.is_set():
                    break
        except Exception as exc:  # noqa: BLE001 - kept for the task to report, not dropped
            self._record(exc)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # noqa: BLE001 - closing a broken stream may fail too
                    self._log.debug("Closing the log stream failed: %s", exc)
            try:
                self.demux.close()
            except Exception as exc:  # noqa: BLE001 - e.g. disk full while writing the last line
                self._record(exc)
            self.cancelled = self.cancel.is_set()

    def _record(self, exc: BaseException) -> None:
        if self.cancel.is_set():
            self._log.debug("Log stream ended after cancel: %s", exc)
            return
        self._log.error("Following the build log failed: %s: %s", type(exc).__name__, exc)
        if self.error is None:
            self.error = exc
