"""What both builder tasks share: settings, error translation, the OpenShift run and the result.

Every failure a user can cause leaves the task as a Koji fault whose one line says what to
change; failures of the site (OpenShift down, bad configuration) say so instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any, Optional

import koji

from koji_containerbuild.threads import start_shielded

from .. import config, options
from ..faults import ContainerCancelled, ContainerError
from ..openshift.client import OpenShiftClient
from ..openshift.errors import OpenShiftError
from ..openshift.orphans import BuildGuard
from ..openshift.request import BuildRequestError
from ..openshift.result import CANCELLED, FAILED, one_line
from ..openshift.submit import SubmitError
from . import labels, source
from .monitor import BuildMonitor, BuildStuck, Outcome, deferred_signals

log = logging.getLogger("koji.plugin.containerbuild")

# KOJI_CONTAINERBUILD_BUILDER_CONF points a kojid (e.g. the sandbox's) at another file.
SETTINGS_ENV = "KOJI_CONTAINERBUILD_BUILDER_CONF"
settings_path = os.environ.get(SETTINGS_ENV) or config.BUILDER_PLUGIN_CONF
PLUGIN_LOG = "osbs-client.log"  # upstream's name for the plugin's own log in the task output


def settings() -> dict[str, Any]:
    """The builder plugin settings (read per task: kojid runs each task in a fresh process)."""
    return config.load_builder_settings(settings_path)


def task_weight() -> float:
    """The weight kojid reports for our tasks; configurable, light by default (§2.8)."""
    try:
        return float(settings()["task_weight"])
    except config.ConfigError as exc:
        log.error("%s", exc)
        return 0.2


@contextlib.contextmanager
def koji_faults() -> Iterator[None]:
    """Turn the library's own errors into Koji faults with their one-line messages."""
    try:
        yield
    except options.OptionsError as exc:
        raise koji.ParameterError(str(exc)) from None
    except (source.SourceError, labels.LabelsError, SubmitError, BuildRequestError) as exc:
        raise koji.BuildError(one_line(str(exc))) from None
    except config.ConfigError as exc:
        raise koji.GenericError(f"Container build plugin is misconfigured: {exc}") from None
    except BuildStuck as exc:
        raise ContainerError(str(exc)) from None
    except OpenShiftError as exc:
        raise ContainerError(f"OpenShift error: {one_line(str(exc))}") from None


class PluginLog:
    """The task's ``osbs-client.log``: what the plugin and its library log while the task runs."""

    # The plugin's logger, and the library's (``koji_containerbuild.*``: HTTP, watches, log
    # streams), as upstream's file got the plugin's and osbs-client's own loggers.
    LOGGERS = ("koji.plugin.containerbuild", "koji_containerbuild")

    def __init__(self, path: str) -> None:
        self.path = path
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter(
            "%(asctime)s - %(process)d - %(name)s - %(levelname)s - %(message)s"))
        self.handler.setLevel(logging.INFO)
        self._levels: dict[str, int] = {}

    def attach(self) -> None:
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.addHandler(self.handler)
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)

    def set_verbose(self, verbose: bool) -> None:
        """osbs.conf ``[general] verbose``: DEBUG lines too (request by request), as
        upstream set osbs-client's logger to DEBUG."""
        if not verbose:
            return
        self.handler.setLevel(logging.DEBUG)
        for name in self.LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)
        log.debug("osbs.conf verbose: DEBUG lines included")

    def detach(self) -> None:
        for name, level in self._levels.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self.handler)
            logger.setLevel(level)
        self.handler.close()


@contextlib.contextmanager
def plugin_log(task: Any, outdir: str) -> Iterator[PluginLog]:
    """Mirror the plugin's log into the task output (osbs-client.log), for operators; the
    whole file is uploaded at the end, also when the task failed before any build. A failure
    is written into it too: the operator sees why there, and koji 1.34's ``uploadFile``
    silently skips an empty file."""
    os.makedirs(outdir, exist_ok=True)
    plugin = PluginLog(os.path.join(outdir, PLUGIN_LOG))
    plugin.attach()
    signalled = False
    try:
        yield plugin
    except (KeyboardInterrupt, SystemExit):
        # a cancel or kojid stopping: the log uploader's last pass, bounded to kojid's
        # SIGINT→SIGTERM window, already took this file along with the build's logs
        signalled = True
        raise
    except Exception as exc:
        log.error("Task failed: %s", one_line(str(exc)) or type(exc).__name__)
        raise
    finally:
        plugin.detach()
        if not signalled:
            try:
                task.uploadFile(plugin.path)
            except koji.ActionNotAllowed as exc:
                # expected after `koji cancel`: the hub takes no uploads for a task not open
                log.info("Not uploading %s: the hub no longer takes uploads for this task (%s); "
                         "it stays in kojid's work directory until the task's cleanup",
                         PLUGIN_LOG, exc)
            except (koji.GenericError, OSError) as exc:
                log.warning("Could not upload %s: %s", PLUGIN_LOG, exc)


def owner_name(task: Any) -> str:
    user = task.session.getUser(task.taskinfo["owner"])
    return user["name"]


def channel_name(task: Any) -> Optional[str]:
    channel_id = task.taskinfo.get("channel_id")
    if channel_id is None:
        return None
    channel = task.session.getChannel(channel_id)
    return channel["name"] if channel else None


class SerialSession:
    """The task's ``koji.ClientSession`` with one call at a time.

    A ClientSession is not thread-safe (one ``requests`` session, one call counter that the
    hub checks), yet the log uploader, the task-state check and the main thread all talk to
    the hub during a build. Every call through this proxy, including nested ones
    (``host.getTaskInfo``) and the session's own helpers (``uploadWrapper``), holds one lock;
    plain attributes (``opts``, ``logged_in``) are the session's own.
    """

    def __init__(self, session: Any) -> None:
        self._session = session
        self._lock = threading.RLock()

    @property
    def wrapped(self) -> Any:
        return self._session

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._session, name)
        if target is None or isinstance(target, _PLAIN_DATA):
            return target
        return _Serialised(self._lock, target)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._session, name, value)


_PLAIN_DATA = (bool, int, float, str, bytes, dict, list, tuple, set)


class _Serialised:
    __slots__ = ("_lock", "_target")

    def __init__(self, lock: Any, target: Any) -> None:
        self._lock = lock
        self._target = target

    def __getattr__(self, name: str) -> Any:
        return _Serialised(self._lock, getattr(self._target, name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._target(*args, **kwargs)


def serial_session(task: Any) -> SerialSession:
    """The task's session behind one lock, installed as ``task.session`` for the task's
    remaining calls too (kojid's own ``closeTask`` uses its session, not this one)."""
    if not isinstance(task.session, SerialSession):
        task.session = SerialSession(task.session)
    return task.session


def build_guard(task: Any, client: OpenShiftClient) -> BuildGuard:
    """Cancels this task's new build on any failure before the monitor takes over; on a signal
    only when the task was cancelled (kojid stopping leaves it for the re-run)."""
    def should_cancel(exc: BaseException) -> bool:
        if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return True
        return not _task_still_open(task)
    return BuildGuard(client, task.id, should_cancel=should_cancel, hold_signals=deferred_signals)


def run_build(task: Any, client: OpenShiftClient, build: dict, *, demux: bool,
              main_log: str, guard: Optional[BuildGuard] = None) -> Outcome:
    """Follow the submitted build to its end with logs streamed into the task output."""
    values = settings()
    outdir = os.path.join(task.workdir, "osbslogs")
    monitor = BuildMonitor(
        client, build, outdir=outdir, upload_session=serial_session(task),
        upload_path=task.getUploadDir(), demux=demux, main_log=main_log,
        metadata_root=_metadata_root(task), pending_timeout=values["pending_timeout"],
        upload_interval=values["upload_interval"],
        upload_chunk_size=values["upload_chunk_size"],
        task_goes_on=lambda: _task_still_open(task),
    )
    return monitor.run(on_watching=guard.hand_over if guard is not None else None)


def _task_still_open(task: Any, timeout: float = 1.0) -> bool:
    """True when the hub still has the task OPEN: a signal then means kojid is stopping.

    Asked from a thread so a hub that does not answer (koji's client retries for minutes)
    cannot eat the ~3 s kojid leaves before SIGTERM; no answer raises, and the build is
    cancelled."""
    answer: dict[str, Any] = {}

    def ask() -> None:
        try:
            answer["info"] = task.session.getTaskInfo(task.id)
        except Exception as exc:  # noqa: BLE001 - reported to the caller below
            answer["error"] = exc

    thread = threading.Thread(target=ask, name="task-state", daemon=True)
    start_shielded(thread)
    thread.join(timeout)
    if "error" in answer:
        raise answer["error"]
    if "info" not in answer:
        raise TimeoutError(f"the hub did not say within {timeout:g}s whether task {task.id} "
                           "was cancelled")
    info = answer["info"]
    return info is not None and info["state"] == koji.TASK_STATES["OPEN"]


def _metadata_root(task: Any) -> Optional[str]:
    topdir = getattr(task.options, "topdir", None)
    work = os.path.join(topdir, "work") if topdir else None
    return work if work and os.path.isdir(work) else None


def task_result(task: Any, outcome: Outcome, build_name: str) -> dict[str, Any]:
    """The task result of a finished build, or the fault that says how it ended (§1.12)."""
    result = outcome.result
    missing = outcome.upload_incomplete
    if result.phase == CANCELLED:
        try:
            task.session.cancelTask(task.id)
        except koji.GenericError as exc:
            log.warning("Could not cancel task %s after OSBS cancelled its build: %s",
                        task.id, exc)
        raise ContainerCancelled("Image build was cancelled by OSBS.")
    if result.phase == FAILED:
        message = outcome.diagnosis or result.error_message()
        text = (f"Image build failed. {one_line(message).rstrip('.')}. "
                f"OSBS build id: {build_name}" if message
                else f"Image build failed. OSBS build id: {build_name}")
        if missing:
            text += f". The task log is incomplete on the hub: {missing}"
        raise ContainerError(text)
    if missing:
        raise ContainerError(
            f"Image build {build_name} succeeded but its log could not be uploaded whole; "
            f"incomplete on the hub: {missing}")
    if outcome.log_error is not None:
        raise ContainerError(
            f"Image build {build_name} succeeded but its log could not be followed to the "
            f"end ({one_line(str(outcome.log_error))}); the task output would be incomplete")
    annotations = result.koji_task_annotations
    if annotations:
        upload_json(task, "build_annotations.json", annotations)
    reply: dict[str, Any] = {
        "repositories": result.repositories,
        "koji_builds": [str(result.koji_build_id)] if result.koji_build_id else [],
        "osbs_build_id": build_name,
    }
    if outcome.node:
        reply["build_node"] = outcome.node
    if outcome.user_warnings:
        reply["user_warnings"] = outcome.user_warnings
    return reply


def upload_json(task: Any, name: str, data: Any) -> None:
    path = os.path.join(task.workdir, name)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    task.uploadFile(path)


def skipped_result() -> dict[str, Any]:
    return {"repositories": [], "koji_builds": [], "build": "skipped"}

