"""Ship the files of a task's log directory to the Koji hub while they grow.

Uploads go through a callable with the signature of ``koji.daemon.incremental_upload``
(koji-plugin-api.md §2.5): it reads an open binary fd from ``fd.tell()`` to EOF and sends the
bytes with ``rawUpload(chunk, offset, ..., overwrite=True)`` (1 MiB chunks by default). The hub
truncates its copy at ``offset`` and writes the chunk there, so sending the same range again
replaces it rather than duplicating it. That makes the recovery rule simple: an offset only
advances after the callable returned; on an exception the fd goes back to the last confirmed
offset and the whole range is sent again later.

Partial lines are uploaded as they are: the hub stores bytes at byte offsets and every
reader (kojiweb, ``koji watch-logs``) reads by byte offset, so the next upload simply
continues the line. Holding bytes back would only add latency (and would never ship an
unterminated last line of a file someone else writes into the same directory).

Scheduling: no polling. The thread sleeps on a condition until ``notify()`` (called by the
demuxer after each chunk); the first notification after a quiet spell uploads at once, later
ones are coalesced so there is at most one pass per ``min_interval``. A silent build costs
no wakeups at all; only a failed pass schedules a retry, with exponential back-off.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from typing import Any, BinaryIO, Callable, Optional

from koji_containerbuild.threads import start_shielded

UploadCallable = Callable[..., Any]


FAST_CHUNK = 1 << 20  # well under the hub's default MaxRequestLength (4 MiB)


def _koji_incremental_upload(session: Any, fname: str, fd: BinaryIO, path: str,
                             retries: int = 5, logger: Optional[logging.Logger] = None) -> None:
    """Upload ``fd`` from its position to EOF: the fast (raw) upload in 1 MiB chunks when the
    session uses it, else ``koji.daemon.incremental_upload``.

    koji's own fast path sends 64 KiB per request and, on a checksum mismatch, sleeps 10 s and
    finally skips the chunk, leaving a hole. Here a mismatch raises, so the uploader re-sends
    the range from the last confirmed offset; 16 times fewer requests carry a busy log.
    """
    if not getattr(session, "opts", {}).get("use_fast_upload"):
        from koji.daemon import incremental_upload

        incremental_upload(session, fname, fd, path, retries=retries, logger=logger)
        return
    from koji.util import adler32_constructor

    while True:
        offset = fd.tell()
        chunk = fd.read(FAST_CHUNK)
        if not chunk:
            return
        result = session.rawUpload(chunk, offset, path, fname, overwrite=True)
        if result.get("hexdigest") != adler32_constructor(chunk).hexdigest():
            raise OSError(f"upload of {fname} at offset {offset}: the hub stored other bytes "
                          "(checksum mismatch)")


def task_left_this_host(exc: BaseException) -> bool:
    """Koji's refusal of uploads to a task this host no longer runs - cancelled, or freed and
    given to another host: ``ActionNotAllowed`` (faultCode 1004) "host N does not own task M"
    (kojihub ``Task.assertHost``). Expected after every cancel; retrying cannot help."""
    return getattr(exc, "faultCode", None) == 1004 and "does not own task" in str(exc)


class _TrackedFile:
    __slots__ = ("fd", "inode", "offset")

    def __init__(self, fd: BinaryIO, inode: int) -> None:
        self.fd = fd
        self.inode = inode
        self.offset = 0  # bytes the hub confirmed


class TaskLogUploader:
    """Upload every ``*.log``/``*.json`` file of ``outdir`` to ``upload_path`` on the hub."""

    def __init__(self, session: Any, outdir: str, upload_path: str, *,
                 upload: Optional[UploadCallable] = None,
                 min_interval: float = 0.15,
                 retry_initial: float = 0.5, retry_max: float = 30.0,
                 upload_retries: int = 5,
                 suffixes: tuple[str, ...] = (".log", ".json"),
                 logger: Optional[logging.Logger] = None) -> None:
        """``upload_path`` is the task's upload dir (``koji.pathinfo.taskrelpath(id)``).
        ``upload_retries`` goes to the callable (koji retries a chunk whose checksum the
        hub rejects); ``retry_*`` is the back-off of this class after a failed pass."""
        self._session = session
        self.outdir = outdir
        self._upload_path = upload_path
        self._upload = upload or _koji_incremental_upload
        self._min_interval = min_interval
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._upload_retries = upload_retries
        self._suffixes = suffixes
        self._log = logger or logging.getLogger(__name__)
        self._files: dict[str, _TrackedFile] = {}
        self._confirmed: dict[str, int] = {}  # name -> offset the hub confirmed
        self._io_lock = threading.Lock()     # one pass at a time: fds are shared state
        self._cond = threading.Condition()
        self._dirty = False
        self._stopping = False
        self._last_pass = float("-inf")
        self._retry_at: Optional[float] = None
        self._failures = 0
        self._thread: Optional[threading.Thread] = None
        self._final_attempts = 1
        self._final_deadline: Optional[float] = None
        self._final_ok: Optional[bool] = None
        self._task_gone: Optional[str] = None  # the hub's refusal once the task left this host
        self.passes = 0          # upload passes made (diagnostics; a silent build adds none)

    # -- public API ------------------------------------------------------------------------

    def start(self) -> TaskLogUploader:
        """Start the background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="koji-log-upload",
                                            daemon=True)
            start_shielded(self._thread)
        return self

    def notify(self) -> None:
        """New data was written; cheap enough to call once per received chunk."""
        with self._cond:
            self._dirty = True
            self._cond.notify()

    def upload_pending(self) -> bool:
        """One synchronous pass; True when the hub has every byte written so far."""
        with self._io_lock:
            return self._pass()

    def final_upload(self, timeout: Optional[float] = None, attempts: int = 3) -> bool:
        """Stop the thread and upload everything that is left; call on every exit path.

        Up to ``attempts`` passes (with back-off) run in the uploader's thread, so a hub
        call that hangs cannot hold the caller past ``timeout`` — a task being cancelled
        has about 3 s before kojid sends SIGTERM (koji-plugin-api §2.6). Returns False,
        and never raises, when something could not be delivered in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._stopping = True
            self._final_attempts = max(attempts, 1)
            self._final_deadline = deadline
            self._final_ok = None
            self._cond.notify()
            thread = self._thread
            if thread is None or not thread.is_alive():
                # never started, or a second final upload: a thread that only drains
                thread = self._thread = threading.Thread(
                    target=self._drain, name="koji-log-upload-final", daemon=True)
                start_shielded(thread)
        thread.join(timeout)
        if thread.is_alive():
            self._log.warning("Final log upload to %s still blocked on the hub after %ss",
                              self._upload_path, timeout)
            return False
        if not self._final_ok:
            self._log.error("Final log upload to %s incomplete", self._upload_path)
        return bool(self._final_ok)

    def close(self) -> None:
        """Close the open fds (after ``final_upload``). Never waits: if a pass is still
        blocked on the hub, the fds stay with it until the process exits."""
        if not self._io_lock.acquire(blocking=False):
            self._log.debug("Upload pass still running; fds left open")
            return
        try:
            for tracked in self._files.values():
                tracked.fd.close()
            self._files.clear()
        finally:
            self._io_lock.release()

    def uploaded(self) -> dict[str, int]:
        """Bytes the hub has confirmed, per file name (does not wait for a running pass)."""
        with self._cond:
            return dict(self._confirmed)

    def __enter__(self) -> TaskLogUploader:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.final_upload()
        finally:
            self.close()

    # -- the thread ------------------------------------------------------------------------

    def _drain(self) -> None:
        """The final passes: until everything is on the hub, attempts or time run out."""
        delay = self._retry_initial
        for attempt in range(self._final_attempts):
            if self.upload_pending():
                self._final_ok = True
                return
            deadline = self._final_deadline
            if attempt + 1 == self._final_attempts or (
                    deadline is not None and deadline - time.monotonic() <= delay):
                break
            time.sleep(delay)
            delay = min(delay * 2, self._retry_max)
        self._final_ok = False

    def _run(self) -> None:
        while self._wait_for_work():
            with self._io_lock:
                ok = self._pass()
            with self._cond:
                self._last_pass = time.monotonic()
                if ok:
                    self._failures = 0
                    self._retry_at = None
                else:
                    delay = min(self._retry_initial * 2 ** self._failures, self._retry_max)
                    self._failures += 1
                    self._retry_at = self._last_pass + delay
        self._drain()

    def _wait_for_work(self) -> bool:
        """Block until a pass is due; False when asked to stop."""
        with self._cond:
            while not self._stopping:
                due = None
                if self._dirty:
                    due = self._last_pass + self._min_interval
                if self._retry_at is not None:
                    due = self._retry_at if due is None else max(due, self._retry_at)
                if due is None:
                    self._cond.wait()                # idle: no timeout, no wakeups
                    continue
                now = time.monotonic()
                if now >= due:
                    self._dirty = False
                    return True
                self._cond.wait(due - now)
            return False

    # -- one pass --------------------------------------------------------------------------

    def _pass(self) -> bool:
        self.passes += 1
        ok = True
        for name in self._candidates():
            ok = self._upload_file(name) and ok
        return ok

    def _candidates(self) -> list[str]:
        names = set(self._files)
        try:
            with os.scandir(self.outdir) as entries:
                for entry in entries:
                    if entry.name.endswith(self._suffixes) and not entry.name.startswith("."):
                        names.add(entry.name)
        except OSError:
            # The workdir can vanish under a cancelled task (regression #1): files already
            # open are still readable and get uploaded; nothing new can appear.
            pass
        return sorted(names)

    def _upload_file(self, name: str) -> bool:
        if self._task_gone is not None:
            return True  # nowhere to upload to any more; said once, at INFO
        tracked = self._open(name)
        if tracked is None:
            return True
        if tracked is False:
            return False
        size = os.fstat(tracked.fd.fileno()).st_size
        if size <= tracked.offset:
            return True
        tracked.fd.seek(tracked.offset)
        try:
            self._upload(self._session, name, tracked.fd, self._upload_path,
                         retries=self._upload_retries, logger=self._log)
        except Exception as exc:  # noqa: BLE001 - hub/transport errors of any kind: keep the data
            tracked.fd.seek(tracked.offset)
            if task_left_this_host(exc):
                self._task_gone = str(exc)
                self._log.info("Not uploading logs any more: the hub no longer takes them for "
                               "this task (cancelled, or freed by kojid): %s; %s stays at %d "
                               "bytes on the hub", exc, name, tracked.offset)
                return True
            self._log.warning("Uploading %s from offset %d failed, will retry: %s",
                              name, tracked.offset, exc)
            return False
        tracked.offset = tracked.fd.tell()
        with self._cond:
            self._confirmed[name] = tracked.offset
        return True

    def _open(self, name: str) -> Any:
        """The tracked file for ``name``; reopened from offset 0 when the file was replaced
        or truncated (as kojid's own log watcher does). None: nothing to upload; False:
        cannot be read now."""
        path = os.path.join(self.outdir, name)
        tracked = self._files.get(name)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return tracked           # deleted: keep draining the fd we have, if any
        except OSError as exc:
            self._log.warning("Cannot stat %s: %s", path, exc)
            return tracked if tracked is not None else False
        if not stat.S_ISREG(info.st_mode):
            return None
        if tracked is not None and info.st_ino == tracked.inode and info.st_size >= tracked.offset:
            return tracked
        try:
            fd = open(path, "rb")  # kept open between passes; offsets continue from it
        except FileNotFoundError:
            return tracked
        except OSError as exc:
            self._log.warning("Cannot open %s: %s", path, exc)
            return False
        if tracked is not None:
            self._log.info("Re-uploading %s from the start: file was replaced or truncated",
                           name)
            tracked.fd.close()
        tracked = _TrackedFile(fd, os.fstat(fd.fileno()).st_ino)
        self._files[name] = tracked
        with self._cond:
            self._confirmed[name] = 0
        return tracked
