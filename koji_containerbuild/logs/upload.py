"""Ship the files of a task's log directory to the Koji hub while they grow.

One call per chunk: the fast upload's ``rawUpload(chunk, offset, ..., overwrite=True)`` (the
hub truncates its copy at ``offset`` and writes the chunk there, so sending a range again
replaces it rather than duplicating it), or koji's legacy ``uploadFile`` when the session does
not use the fast upload (koji-plugin-api.md §2.5). A file's confirmed offset moves after each
chunk the hub confirmed, so a hub that fails now and then still receives the log: a failed
call only sends its own chunk again, never the whole backlog.

Partial lines are uploaded as they are: the hub stores bytes at byte offsets and every
reader (kojiweb, ``koji watch-logs``) reads by byte offset, so the next upload simply
continues the line.

Scheduling: no polling. The thread sleeps on a condition until ``notify()`` (called by the
demuxer after each chunk); the first notification after a quiet spell uploads at once, later
ones are coalesced so there is at most one pass per ``min_interval``, unless a pass ends with
a whole chunk already waiting (a fast log): then the next pass starts at once, so the hub
keeps up with the build as far as its own rate allows. A silent build costs no wakeups at
all; only a failed pass schedules a retry, with exponential back-off.

The final upload (``final_upload``) runs until every byte is on the hub, however slow the
hub is. Only the session decides that the hub is gone: a koji ``ClientSession`` retries each
call itself (``max_retries`` × ``retry_interval``, ``offline_retry``), so a call that still
raises ends the final upload and ``incomplete()`` names what is missing. A chunk the hub
answered but stored wrongly (checksum or size mismatch) is sent again, ``upload_retries``
times in a row at most. A deadline (a cancel, kojid stopping) is the only other bound.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
import threading
import time
import zlib
from typing import Any, Callable, Optional

from koji_containerbuild.threads import start_shielded

# (session, file name, upload path, offset, bytes) -> None; raises when not stored.
ChunkSender = Callable[[Any, str, str, int, bytes], None]

FAST_CHUNK = 1 << 20  # well under the hub's default MaxRequestLength (4 MiB)


class ChunkRejected(Exception):
    """The hub answered but did not store the chunk as sent: worth sending again."""


def send_chunk(session: Any, name: str, path: str, offset: int, data: bytes) -> None:
    """Store ``data`` at ``offset`` of ``path/name`` on the hub, the way kojid does
    (``koji.daemon.incremental_upload``), but one chunk per call and raising on a mismatch
    where koji would sleep 10 s and finally skip the chunk, leaving a hole."""
    if getattr(session, "opts", {}).get("use_fast_upload"):
        result = session.rawUpload(data, offset, path, name, overwrite=True)
        digest = "%08x" % (zlib.adler32(data) & 0xFFFFFFFF)  # koji.util.adler32_constructor
        if int(result.get("size", -1)) != len(data) or result.get("hexdigest") != digest:
            raise ChunkRejected(f"the hub stored other bytes for {name} at offset {offset} "
                                "(size or checksum mismatch)")
        return
    encoded = base64.b64encode(data).decode("ascii")
    digest = hashlib.sha256(data).hexdigest()
    if not session.uploadFile(path, name, len(data), ("sha256", digest), offset, encoded):
        raise ChunkRejected(f"the hub refused the chunk of {name} at offset {offset}")


def task_left_this_host(exc: BaseException) -> bool:
    """Koji's refusal of uploads to a task this host no longer runs - cancelled, or freed and
    given to another host: ``ActionNotAllowed`` (faultCode 1004) "host N does not own task M"
    (kojihub ``Task.assertHost``). Expected after every cancel; retrying cannot help."""
    return getattr(exc, "faultCode", None) == 1004 and "does not own task" in str(exc)


class _TrackedFile:
    __slots__ = ("fd", "inode", "offset")

    def __init__(self, fd: int, inode: int) -> None:
        self.fd = fd          # a raw fd read with os.pread: no file position to keep right
        self.inode = inode
        self.offset = 0       # bytes the hub confirmed


class TaskLogUploader:
    """Upload every ``*.log``/``*.json`` file of ``outdir`` to ``upload_path`` on the hub."""

    def __init__(self, session: Any, outdir: str, upload_path: str, *,
                 upload: Optional[ChunkSender] = None,
                 chunk_size: Optional[int] = None,
                 min_interval: float = 0.15,
                 retry_initial: float = 0.5, retry_max: float = 30.0,
                 upload_retries: int = 5,
                 suffixes: tuple[str, ...] = (".log", ".json"),
                 logger: Optional[logging.Logger] = None) -> None:
        """``upload_path`` is the task's upload dir (``koji.pathinfo.taskrelpath(id)``).
        ``upload`` sends one chunk (default ``send_chunk``) of ``chunk_size`` bytes (default:
        the session's ``upload_blocksize``, else 1 MiB); ``upload_retries`` bounds how
        often in a row the final upload re-sends a chunk the hub stored wrongly; ``retry_*``
        is the back-off between passes after a failed call."""
        self._session = session
        self.outdir = outdir
        self._upload_path = upload_path
        self._send = upload or send_chunk
        # koji's own knob for upload chunks (ClientSession ``upload_blocksize``), 1 MiB
        self._chunk = chunk_size or int(getattr(session, "opts", None) and session.opts.get(
            "upload_blocksize") or FAST_CHUNK)
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
        self._behind = False      # the last pass left a whole chunk unsent: no pause
        self._stopping = False
        self._last_pass = float("-inf")
        self._retry_at: Optional[float] = None
        self._failures = 0
        self._last_error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = None
        self._final_deadline: Optional[float] = None
        self._final_done = threading.Event()
        self._final_ok: Optional[bool] = None
        self.final_error: Optional[str] = None   # why the final upload stopped short
        self._task_gone: Optional[str] = None  # the hub's refusal once the task left this host
        self.passes = 0          # upload passes made (diagnostics; a silent build adds none)
        self.calls = 0           # chunks sent (diagnostics)
        self.wakeups = 0         # times the thread woke from waiting (diagnostics)

    # -- public API ------------------------------------------------------------------------

    def start(self) -> TaskLogUploader:
        """Start the background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="koji-log-upload",
                                            daemon=True)
            start_shielded(self._thread)
        return self

    def notify(self) -> None:
        """New data was written; cheap enough to call once per received chunk: only the
        first call after a pass wakes the thread (it then waits for its pass with a
        timeout), so a fast log costs no thread switch per chunk."""
        with self._cond:
            if not self._dirty:
                self._dirty = True
                self._cond.notify()

    def upload_pending(self) -> bool:
        """One synchronous pass; True when the hub has every byte written so far."""
        with self._io_lock:
            return self._pass()

    def final_upload(self, timeout: Optional[float] = None) -> bool:
        """Stop the thread and upload everything that is left; call on every exit path.

        Without ``timeout`` it returns when everything is on the hub or the session gave up
        on the hub (see the module docstring); with one, at the latest after ``timeout``
        seconds, a hub call still running being left to the uploader's thread. Returns
        True when complete; never raises (a signal while waiting propagates)."""
        self.begin_final(timeout)
        return self.wait_final(timeout)

    def begin_final(self, timeout: Optional[float] = None) -> None:
        """Start the final upload in the uploader's thread without waiting for it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if not self._stopping:
                self._stopping = True
                self._final_deadline = deadline
            elif deadline is not None:
                self._limit(deadline)
            self._cond.notify()
            if self._thread is None or not self._thread.is_alive():
                if not self._final_done.is_set():
                    # never started: a thread that only drains
                    self._thread = threading.Thread(
                        target=self._drain, name="koji-log-upload-final", daemon=True)
                    start_shielded(self._thread)

    def limit(self, timeout: float) -> None:
        """Bound a final upload already under way to ``timeout`` seconds from now (a cancel
        or kojid stopping while a slow hub takes the log)."""
        with self._cond:
            self._limit(time.monotonic() + timeout)
            self._cond.notify()

    def wait_final(self, timeout: Optional[float] = None) -> bool:
        """Wait for the final upload; True when everything is on the hub."""
        if not self._final_done.wait(timeout):
            self.final_error = (f"still waiting for the hub after {timeout:g}s"
                                if timeout is not None else "interrupted")
            self._log.warning("Final log upload to %s cut short: %s", self._upload_path,
                              self.final_error)
            return False
        if not self._final_ok:
            self._log.error("Final log upload to %s incomplete (%s): %s", self._upload_path,
                            self.final_error, self.describe_incomplete())
        return bool(self._final_ok)

    def incomplete(self) -> dict[str, tuple[int, int]]:
        """Files whose bytes are not all on the hub: name -> (bytes on the hub, bytes
        written). Reads the local sizes; the hub's count does not wait for a running call."""
        with self._cond:
            confirmed = dict(self._confirmed)
        missing = {}
        for name in sorted(set(confirmed) | set(self._local_names())):
            try:
                size = os.stat(os.path.join(self.outdir, name)).st_size
            except OSError:
                tracked = self._files.get(name)
                try:
                    size = os.fstat(tracked.fd).st_size if tracked else 0
                except OSError:
                    size = 0
            if confirmed.get(name, 0) < size:
                missing[name] = (confirmed.get(name, 0), size)
        return missing

    def describe_incomplete(self) -> str:
        """``x86_64.log: 1048576 of 5000000 bytes on the hub, ...`` (empty when complete)."""
        return ", ".join(f"{name}: {done} of {size} bytes on the hub"
                         for name, (done, size) in self.incomplete().items())

    def close(self) -> None:
        """Close the open fds (after ``final_upload``). Never waits: if a pass is still
        blocked on the hub, the fds stay with it until the process exits."""
        if not self._io_lock.acquire(blocking=False):
            self._log.debug("Upload pass still running; fds left open")
            return
        try:
            for tracked in self._files.values():
                os.close(tracked.fd)
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

    def _limit(self, deadline: float) -> None:
        if self._final_deadline is None or deadline < self._final_deadline:
            self._final_deadline = deadline

    def _deadline_passed(self) -> bool:
        deadline = self._final_deadline
        return deadline is not None and time.monotonic() >= deadline

    def _drain(self) -> None:
        """The final passes: until everything is on the hub, the session gives up on the
        hub, a chunk is rejected too often in a row, or the deadline passes."""
        delay = self._retry_initial
        rejected = 0
        try:
            while True:
                before = sum(self.uploaded().values())
                with self._io_lock:
                    ok = self._pass()
                if ok:
                    self._final_ok = True
                    return
                error = self._last_error
                if self._deadline_passed():
                    self.final_error = "stopped by the deadline of a cancel or shutdown"
                    break
                if not isinstance(error, ChunkRejected):
                    self.final_error = f"the hub did not take it: {error}"
                    break
                rejected = 0 if sum(self.uploaded().values()) > before else rejected + 1
                if rejected > self._upload_retries:
                    self.final_error = f"the hub rejected a chunk {rejected} times: {error}"
                    break
                with self._cond:
                    deadline = self._final_deadline
                    pause = delay if deadline is None else min(delay, deadline -
                                                               time.monotonic())
                    if pause > 0:
                        self._cond.wait(pause)
                delay = min(delay * 2, self._retry_max)
            self._final_ok = False
        finally:
            if self._final_ok is None:
                self._final_ok = False
            self._final_done.set()

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
                    due = self._last_pass + (0.0 if self._behind else self._min_interval)
                if self._retry_at is not None:
                    due = self._retry_at if due is None else max(due, self._retry_at)
                if due is None:
                    self._cond.wait()                # idle: no timeout, no wakeups
                    self.wakeups += 1
                    continue
                now = time.monotonic()
                if now >= due:
                    self._dirty = False
                    return True
                self._cond.wait(due - now)
                self.wakeups += 1
            return False

    # -- one pass --------------------------------------------------------------------------

    def _pass(self) -> bool:
        """Each file up to the size it had when its turn came (a fast-growing file cannot
        starve the others); stops at the first failed call, the next pass resumes there.
        Notes whether a whole chunk has piled up meanwhile (``_behind``)."""
        self.passes += 1
        behind = False
        try:
            for name in self._candidates():
                if not self._upload_file(name):
                    return False
                tracked = self._files.get(name)
                if tracked is not None and not behind and self._task_gone is None:
                    behind = os.fstat(tracked.fd).st_size - tracked.offset >= self._chunk
            return True
        finally:
            with self._cond:
                self._behind = behind
                self._dirty = self._dirty or behind

    def _local_names(self) -> list[str]:
        try:
            with os.scandir(self.outdir) as entries:
                return [entry.name for entry in entries
                        if entry.name.endswith(self._suffixes) and not entry.name.startswith(".")]
        except OSError:
            # The workdir can vanish under a cancelled task (regression #1): files already
            # open are still readable and get uploaded; nothing new can appear.
            return []

    def _candidates(self) -> list[str]:
        return sorted(set(self._files) | set(self._local_names()))

    def _upload_file(self, name: str) -> bool:
        if self._task_gone is not None:
            return True  # nowhere to upload to any more; said once, at INFO
        tracked = self._open(name)
        if tracked is None:
            return True
        if tracked is False:
            return False
        size = os.fstat(tracked.fd).st_size
        while tracked.offset < size:
            if self._stopping and self._deadline_passed():
                self._last_error = TimeoutError("deadline passed")
                return False
            offset = tracked.offset
            data = os.pread(tracked.fd, min(self._chunk, size - offset), offset)
            if not data:
                return True          # truncated under us: _open starts it again next pass
            self.calls += 1
            try:
                self._send(self._session, name, self._upload_path, offset, data)
            except Exception as exc:  # noqa: BLE001 - hub/transport errors of any kind: keep the data
                if task_left_this_host(exc):
                    self._task_gone = str(exc)
                    self._log.info("Not uploading logs any more: the hub no longer takes them "
                                   "for this task (cancelled, or freed by kojid): %s; %s stays "
                                   "at %d bytes on the hub", exc, name, offset)
                    return True
                self._last_error = exc
                self._log.warning("Uploading %s at offset %d failed: %s", name, offset, exc)
                return False
            tracked.offset = offset + len(data)
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
            self._last_error = exc
            return tracked if tracked is not None else False
        if not stat.S_ISREG(info.st_mode):
            return None
        if tracked is not None and info.st_ino == tracked.inode and info.st_size >= tracked.offset:
            return tracked
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return tracked
        except OSError as exc:
            self._log.warning("Cannot open %s: %s", path, exc)
            self._last_error = exc
            return False
        if tracked is not None:
            self._log.info("Re-uploading %s from the start: file was replaced or truncated",
                           name)
            os.close(tracked.fd)
        tracked = _TrackedFile(fd, os.fstat(fd).st_ino)
        self._files[name] = tracked
        with self._cond:
            self._confirmed[name] = 0
        return tracked
