"""Run a submitted OpenShift build to its end: say where it runs, stream its log into the task,
wait, diagnose a build that never starts, and cancel it whenever the task stops early.

Koji-free apart from the upload session handed to the uploader. Cancellation is by
exceptions: kojid's SIGINT (KeyboardInterrupt) and SIGTERM (SystemExit) unwind through
``run()``, which cancels the build in its cleanup, so no OpenShift build outlives its task.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..logs.follow import ORCHESTRATOR_LOG, LogDemux, LogFollower, TaskLogUploader
from ..openshift.client import RUNNING_PHASES, TERMINAL_PHASES, OpenShiftClient, phase_of
from ..openshift.errors import OpenShiftError, WaitTimeout
from ..openshift.logstream import follow_build_log
from ..openshift.result import BuildResult, build_path, diagnose_failure, diagnose_pending
from ..openshift.watch import CancelEvent, wait_for_build

log = logging.getLogger("koji.plugin.containerbuild")

RUNNING_OR_DONE = RUNNING_PHASES | TERMINAL_PHASES
# After the build ends its log stream closes by itself; this bounds a stream that does not.
LOG_DRAIN_SECONDS = 60.0
CANCEL_SECONDS = 1.0
# Most bytes one read of the log stream hands the demuxer: a read returns what has arrived
# (a chunked answer: one HTTP chunk), so this costs no latency; every read costs a pass of
# the resume cursor and the demuxer, and a chunk cut in two pieces costs two.
LOG_READ_BYTES = 1 << 20
# kojid sends SIGINT, then SIGTERM 3 s later (koji/daemon.py cleanupTask: _killChildren with
# pause=3.0); after a signal, cancelling the build and the last upload share that window.
KOJID_SIGTERM_AFTER = 3.0
SIGNAL_UPLOAD_UNTIL = KOJID_SIGTERM_AFTER - 0.4


class BuildStuck(Exception):
    """The build did not start within the pending limit; it has been cancelled."""


@dataclass
class Outcome:
    """How a build ended, with what the task reports besides the OpenShift result."""

    result: BuildResult
    node: Optional[str] = None
    user_warnings: list[str] = field(default_factory=list)
    log_error: Optional[BaseException] = None
    log_files: dict[str, str] = field(default_factory=dict)
    diagnosis: Optional[str] = None
    # Set when the final upload could not put every byte on the hub: what is missing.
    upload_incomplete: Optional[str] = None


@contextlib.contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM while cleaning up, so kojid's SIGTERM ~3 s after SIGINT cannot cut
    the build cancel short; the caller re-raises afterwards. Main thread only (signal rule)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {sig: signal.signal(sig, lambda s, _f: received.append(s))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class BuildMonitor:
    """Follow one OpenShift build for a Koji task."""

    def __init__(
        self,
        client: OpenShiftClient,
        build: dict,
        *,
        outdir: str,
        upload_session: Any,
        upload_path: str,
        demux: bool = True,
        main_log: str = ORCHESTRATOR_LOG,
        metadata_root: Optional[str] = None,
        pending_timeout: float = 3600.0,
        upload_interval: float = 0.15,
        upload_chunk_size: Optional[int] = None,
        uploader_factory: Optional[Callable[..., TaskLogUploader]] = None,
        task_goes_on: Optional[Callable[[], bool]] = None,
    ) -> None:
        """``task_goes_on`` answers, when a signal stops us, whether the Koji task lives on
        (kojid stopping or restarting frees it for a re-run) rather than being cancelled."""
        self.client = client
        self.build = build
        self.name = build["metadata"]["name"]
        self.namespace = build["metadata"].get("namespace") or client.namespace
        self.pending_timeout = pending_timeout
        self.cancel = CancelEvent()  # set() also closes the follower's open streams
        make_uploader = uploader_factory or TaskLogUploader
        self.uploader = make_uploader(upload_session, outdir, upload_path,
                                      min_interval=upload_interval,
                                      chunk_size=upload_chunk_size)
        self.demux = LogDemux(outdir, demux=demux, main_log=main_log,
                              metadata_root=metadata_root, on_data=self.uploader.notify,
                              logger=log)
        self.follower = LogFollower(
            lambda: follow_build_log(self.client, self.name, cancel=self.cancel,
                                     logger=log, chunk_size=LOG_READ_BYTES,
                                     keep_prefixed=True),   # the demuxer strips them
            self.demux, cancel=self.cancel, logger=log,
        )
        self.node: Optional[str] = None
        self._task_goes_on = task_goes_on

    def run(self, on_watching: Optional[Callable[[], None]] = None) -> Outcome:
        """Stream and wait until the build ends; cancel it if anything stops us early.

        ``on_watching`` is called once this method's own cleanup covers the build (the
        caller's guard, openshift/orphans.py, stands down). The task log is on the hub
        before this returns: the final upload waits for a slow hub as long as the session
        keeps trying; only a signal (a cancel, kojid stopping) bounds it, to what is left of
        kojid's SIGINT→SIGTERM window."""
        signalled_at: Optional[float] = None
        self.uploader.start()
        self._announce()
        self.uploader.notify()  # osbs-client.log names the build on the hub before any cancel
        self.follower.start()
        try:
            try:
                if on_watching is not None:
                    on_watching()
                started = self._wait_until_started()
                self._note_node()
                final = started if phase_of(started) in TERMINAL_PHASES else wait_for_build(
                    self.client, self.name, TERMINAL_PHASES)
                outcome = self._outcome(final)
            except BaseException as exc:
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    signalled_at = time.monotonic()
                with deferred_signals():
                    if self._should_cancel(exc):
                        self.cancel_build()
                    else:
                        log.info("Leaving OpenShift build %s running: the task will be run "
                                 "again and re-attach to it", self.name)
                raise
        finally:
            self.follower.stop()
            missing = self._final_upload(signalled_at)
            self.uploader.close()
        outcome.upload_incomplete = missing
        return outcome

    def _final_upload(self, signalled_at: Optional[float]) -> Optional[str]:
        """Put the rest of the log on the hub; None when complete, else what is missing."""
        timeout = None
        if signalled_at is not None:
            timeout = max(0.0, signalled_at + SIGNAL_UPLOAD_UNTIL - time.monotonic())
        try:
            complete = self.uploader.final_upload(timeout=timeout)
        except (KeyboardInterrupt, SystemExit):
            # cancelled, or kojid stopping, while a slow hub takes the log: what kojid's
            # window still allows, then go (the next signal is SIGTERM, then SIGKILL); a
            # second signal on a bounded upload ends it at once
            if signalled_at is None:
                self.uploader.limit(SIGNAL_UPLOAD_UNTIL)
                try:
                    self.uploader.wait_final(SIGNAL_UPLOAD_UNTIL)
                finally:
                    log.error("Task log upload stopped by a signal; not on the hub: %s",
                              self.uploader.describe_incomplete() or "nothing")
            raise
        if complete:
            return None
        missing = self.uploader.describe_incomplete() or "the last bytes written"
        log.error("The task log is incomplete on the hub (%s): %s",
                  self.uploader.final_error, missing)
        return missing

    def _should_cancel(self, exc: BaseException) -> bool:
        """Cancel on every failure, and on a signal unless the task itself lives on.

        kojid sends the same SIGINT/SIGTERM for a cancelled task and for its own stop or
        restart (reference/koji-plugin-api.md §2.6-2.7); only in the first case is the task
        CANCELED on the hub. A re-run re-attaches to the build, so keep it in the second.
        """
        if not isinstance(exc, (KeyboardInterrupt, SystemExit)) or self._task_goes_on is None:
            return True
        try:
            return not self._task_goes_on()
        except Exception as error:  # noqa: BLE001 - in doubt, leave no orphan behind
            log.warning("Could not tell whether the task was cancelled (%s); cancelling "
                        "build %s", error, self.name)
            return True

    def cancel_build(self) -> None:
        """Cancel the build on the cluster (bounded); never raises, a failure is logged."""
        self.cancel.set()
        try:
            self.client.cancel_build(self.name, deadline=CANCEL_SECONDS)
            log.info("Cancelled OpenShift build %s", self.name)
        except OpenShiftError as exc:
            log.error("Could not cancel OpenShift build %s: %s", self.name, exc)

    # ---------------------------------------------------------------------------------

    def _announce(self) -> None:
        log.info("OpenShift build: %s (namespace %s)", self.name, self.namespace)
        link = self.build["metadata"].get("selfLink") or build_path(self.namespace, self.name)
        log.info("openshift_build_selflink: %s", link)

    def _note_node(self) -> None:
        try:
            self.node = self.client.get_build_node(self.name)
        except OpenShiftError as exc:
            log.warning("Could not find the node of build %s: %s", self.name, exc)
        if self.node:
            log.info("Build %s runs on node %s", self.name, self.node)

    def _wait_until_started(self) -> dict:
        try:
            return wait_for_build(self.client, self.name, RUNNING_OR_DONE,
                                  deadline=self.pending_timeout)
        except WaitTimeout:
            build = self.client.get_build(self.name)
            pods = self._pods()
            why = diagnose_pending(build, pods) or (
                f"it is still {phase_of(build)} with no reason given by OpenShift")
            self.cancel_build()
            raise BuildStuck(
                f"OpenShift build {self.name} did not start within "
                f"{self.pending_timeout:g}s: {why}. The build was cancelled."
            ) from None

    def _pods(self) -> list:
        try:
            return self.client.get_build_pods(self.name)
        except OpenShiftError as exc:
            log.warning("Could not read the pods of build %s: %s", self.name, exc)
            return []

    def _outcome(self, final: dict) -> Outcome:
        if not self.follower.done:
            self.follower.join(LOG_DRAIN_SECONDS)
        if not self.follower.done:
            self.follower.stop()
            self.follower.join(5.0)
            log_error: Optional[BaseException] = OpenShiftError(
                f"the log of build {self.name} did not end {LOG_DRAIN_SECONDS:g}s after the "
                "build finished")
        else:
            log_error = self.follower.error
        pods = self._pods() if phase_of(final) != "complete" else None
        result = BuildResult.from_build(final, pods)
        if not self.node:
            self.node = result.node
        return Outcome(
            result=result,
            node=self.node,
            user_warnings=list(self.demux.user_warnings),
            log_error=log_error,
            log_files=self.demux.files,
            diagnosis=diagnose_failure(final, pods) if pods is not None else None,
        )
