"""No OpenShift build may outlive a task that stopped before watching it.

Between the POST that creates (or instantiates) a build and the moment the monitor's own
cleanup takes over, many things can fail: a 5xx on the next call, a lost answer to the POST
itself, a full disk when the log directory is made, or kojid's SIGINT/SIGTERM. ``BuildGuard``
covers that stretch: on any exception it cancels the build it was told about and every other
live build labelled with the task id (a POST whose answer was lost still created one), unless
the caller's policy says the task lives on (kojid stopping: the re-run re-attaches).
"""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType
from typing import Callable, Optional

from koji_containerbuild.openshift.client import TERMINAL_PHASES, OpenShiftClient, phase_of
from koji_containerbuild.openshift.errors import OpenShiftError

log = logging.getLogger("koji.plugin.containerbuild")

HoldSignals = Callable[[], contextlib.AbstractContextManager]

CANCEL_SECONDS = 1.0


class BuildGuard:
    """Context manager: cancel this task's new build if the block fails before ``hand_over``.

    ``should_cancel(exc)`` decides for signals (default: always cancel); ``hold_signals``
    returns a context that defers SIGINT/SIGTERM while cancelling (main thread only).
    """

    def __init__(self, client: OpenShiftClient, task_id: Optional[int], *,
                 should_cancel: Optional[Callable[[BaseException], bool]] = None,
                 hold_signals: Optional[HoldSignals] = None) -> None:
        self.client = client
        self.task_id = task_id
        self.build_name: Optional[str] = None
        self._armed = True
        self._posting = False
        self._should_cancel = should_cancel or (lambda exc: True)
        self._hold_signals = hold_signals or contextlib.nullcontext

    def creating(self) -> None:
        """A POST that may create a build of this task is about to be sent."""
        self._posting = True

    def created(self, build: Optional[dict]) -> None:
        """The build the block is about to POST, made, or re-attached to."""
        self._posting = True
        if build is not None:
            self.build_name = build["metadata"]["name"]

    def hand_over(self) -> None:
        """From here on the monitor cancels the build itself."""
        self._armed = False

    def __enter__(self) -> BuildGuard:
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if exc is None or not self._armed or not self._posting:
            return      # success, the monitor's turn, or no build was ever asked for
        with self._hold_signals():
            try:
                cancel = self._should_cancel(exc)
            except Exception as error:  # noqa: BLE001 - in doubt, leave no orphan behind
                log.warning("Could not tell whether the task was cancelled (%s)", error)
                cancel = True
            if cancel:
                self.cancel_all()
            else:
                log.info("Leaving OpenShift build %s running: the task will be run again and "
                         "re-attach to it", self.build_name or f"of task {self.task_id}")

    def cancel_all(self) -> None:
        """Cancel the known build and every live one of this task; never raises."""
        names = [self.build_name] if self.build_name else []
        if self.task_id is not None:
            try:
                for build in self.client.list_builds(labels={"koji-task-id": str(self.task_id)}):
                    labels = (build.get("metadata") or {}).get("labels") or {}
                    name = build["metadata"]["name"]
                    if (phase_of(build) not in TERMINAL_PHASES and name not in names
                            and labels.get("is_autorebuild") != "true"):
                        names.append(name)
            except OpenShiftError as exc:
                log.error("Could not list the OpenShift builds of task %s: %s", self.task_id, exc)
        for name in names:
            try:
                self.client.cancel_build(name, deadline=CANCEL_SECONDS)
                log.info("Cancelled OpenShift build %s", name)
            except OpenShiftError as exc:
                log.error("Could not cancel OpenShift build %s: %s; cancel it by hand: "
                          "oc cancel-build %s", name, exc, name)
