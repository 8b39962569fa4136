"""Read a Build object (and its pod) into what the Koji task reports: pure, and never raises.

atomic-reactor stores its results as annotations and labels on the Build (reference/
osbs1-contract.md §5.1); OpenShift adds phase, pod and node. Any of it may be missing or
malformed - a build killed by its deadline has no annotations at all - so every accessor
tolerates None, wrong types and invalid JSON and falls back to "unknown".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
RUNNING = "running"
PENDING = "pending"
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

_PHASES = {
    "complete": SUCCEEDED,
    "failed": FAILED,
    "error": FAILED,          # infrastructure error: failed for the user
    "cancelled": CANCELLED,
    "running": RUNNING,
    "pending": PENDING,
    "new": PENDING,
}
_REPOSITORY_KINDS = ("primary", "unique", "floating")
_POD_START_FAILURES = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull",
                       "CreateContainerConfigError", "CreateContainerError", "RegistryUnavailable"}


# --------------------------------------------------------------------------- tolerant access


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _mapping(obj: Any) -> Mapping[str, Any]:
    return obj if isinstance(obj, Mapping) else {}


def _text(obj: Any) -> Optional[str]:
    return obj if isinstance(obj, str) and obj else None


def _json(value: Any) -> Any:
    if not isinstance(value, (str, bytes)):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def one_line(text: str) -> str:
    """Join a multi-line message into one line: trimmed lines, blanks dropped, '; ' between."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _pods(pods: Any) -> list[Mapping[str, Any]]:
    if isinstance(pods, Mapping):          # a PodList
        pods = pods.get("items")
    if not isinstance(pods, list):
        return []
    return [pod for pod in pods if isinstance(pod, Mapping)]


def build_pod(build: Any, pods: Any) -> Optional[Mapping[str, Any]]:
    """The build's pod among `pods`: by the pod-name annotation, the build-name label, or alone."""
    candidates = _pods(pods)
    pod_name = _dig(build, "metadata", "annotations", "openshift.io/build.pod-name")
    build_name = _dig(build, "metadata", "name")
    for pod in candidates:
        if pod_name and _dig(pod, "metadata", "name") == pod_name:
            return pod
    matching = [pod for pod in candidates if build_name and _dig(
        pod, "metadata", "labels", "openshift.io/build.name") == build_name]
    if not matching and len(candidates) == 1:
        matching = candidates        # the caller already listed by label selector
    if not matching:
        return None
    return max(matching, key=lambda pod: str(_dig(pod, "metadata", "creationTimestamp") or ""))


# --------------------------------------------------------------------------- single facts


def build_phase(build: Any) -> str:
    """One of succeeded/failed/cancelled/running/pending; unknown or missing phases are pending."""
    phase = _dig(build, "status", "phase")
    return _PHASES.get(phase.lower(), PENDING) if isinstance(phase, str) else PENDING


def _annotations(build: Any) -> Mapping[str, Any]:
    annotations = _dig(build, "metadata", "annotations")
    if annotations is None:       # osbs-client falls back to labels only when there are none
        return _mapping(_dig(build, "metadata", "labels"))
    return _mapping(annotations)


def repositories(build: Any) -> list[str]:
    """Pull specs from the `repositories` annotation: primary, unique, floating, no duplicates."""
    data = _json(_annotations(build).get("repositories"))
    if not isinstance(data, Mapping):
        return []
    kinds = list(_REPOSITORY_KINDS) + [kind for kind in data if kind not in _REPOSITORY_KINDS]
    found: list[str] = []
    for kind in kinds:
        specs = data.get(kind)
        if isinstance(specs, list):
            found.extend(spec for spec in specs if isinstance(spec, str) and spec not in found)
    return found


def koji_build_id(build: Any) -> Optional[str]:
    """The `koji-build-id` label (a string, as atomic-reactor writes it); None for scratch."""
    value = _dig(build, "metadata", "labels", "koji-build-id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def koji_task_annotations(build: Any) -> dict[str, str]:
    """The annotations named by `koji_task_annotations_whitelist` (a JSON list), raw values."""
    annotations = _annotations(build)
    keys = _json(annotations.get("koji_task_annotations_whitelist"))
    if not isinstance(keys, list):
        return {}
    return {key: annotations[key] for key in keys
            if isinstance(key, str) and isinstance(annotations.get(key), str)}


def digests(build: Any) -> list[dict[str, Any]]:
    data = _json(_annotations(build).get("digests"))
    return [dict(item) for item in data if isinstance(item, Mapping)] if isinstance(
        data, list) else []


def plugin_error(build: Any) -> Optional[tuple[str, str]]:
    """The first (plugin, message) in plugins-metadata.errors: the first plugin that failed."""
    errors = _dig(_json(_annotations(build).get("plugins-metadata")), "errors")
    if not isinstance(errors, Mapping):
        return None
    for plugin, message in errors.items():
        return str(plugin), "" if message is None else str(message)
    return None


def pod_failure_reason(pod: Any) -> Optional[dict[str, Any]]:
    """osbs-client's PodResponse.get_failure_reason: the first non-zero container exit, else
    the pod's message/reason/phase. Keys in its order: exitCode, containerID, reason."""
    status = _dig(pod, "status")
    if not isinstance(status, Mapping):
        return None
    statuses = status.get("containerStatuses")
    for container in statuses if isinstance(statuses, list) else []:
        terminated = _dig(container, "state", "terminated")
        exit_code = _dig(terminated, "exitCode")
        if exit_code is None or exit_code == 0:
            continue
        reason: dict[str, Any] = {"exitCode": exit_code}
        if "containerID" in terminated:
            reason["containerID"] = terminated["containerID"]
        for key in ("message", "reason"):
            if key in terminated:
                reason["reason"] = terminated[key]
                break
        else:
            reason["reason"] = f"Exit code {exit_code}"
        return reason
    for key in ("message", "reason", "phase"):
        if key in status:
            return {"reason": status[key]}
    return None


def node_name(pod: Any) -> Optional[str]:
    return _text(_dig(pod, "spec", "nodeName"))


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class BuildResult:
    """What a (finished) Build says, read once from its JSON and pod."""

    name: Optional[str]
    namespace: Optional[str]
    phase: str
    openshift_phase: Optional[str]
    repositories: list[str] = field(default_factory=list)
    koji_build_id: Optional[str] = None
    koji_task_annotations: dict[str, str] = field(default_factory=dict)
    digests: list[dict[str, Any]] = field(default_factory=list)
    node: Optional[str] = None
    self_link: Optional[str] = None
    plugin_error: Optional[tuple[str, str]] = None
    pod_failure: Optional[dict[str, Any]] = None
    status_reason: Optional[str] = None
    status_message: Optional[str] = None

    @classmethod
    def from_build(cls, build: Any, pods: Any = None) -> BuildResult:
        pod = build_pod(build, pods)
        name = _text(_dig(build, "metadata", "name"))
        namespace = _text(_dig(build, "metadata", "namespace"))
        phase = _dig(build, "status", "phase")
        return cls(
            name=name,
            namespace=namespace,
            phase=build_phase(build),
            openshift_phase=phase if isinstance(phase, str) else None,
            repositories=repositories(build),
            koji_build_id=koji_build_id(build),
            koji_task_annotations=koji_task_annotations(build),
            digests=digests(build),
            node=node_name(pod),
            self_link=_text(_dig(build, "metadata", "selfLink")) or build_path(namespace, name),
            plugin_error=plugin_error(build),
            pod_failure=pod_failure_reason(pod),
            status_reason=_text(_dig(build, "status", "reason")),
            status_message=_text(_dig(build, "status", "message")),
        )

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED

    @property
    def path(self) -> Optional[str]:
        """The API path of this build, e.g. /apis/build.openshift.io/v1/namespaces/NS/builds/N."""
        return build_path(self.namespace, self.name)

    def error_message(self) -> Optional[str]:
        """One line saying why the build failed (osbs-client get_error_message, §5.2).

        The first failing plugin wins; without plugins-metadata (the pod died early, deadline,
        eviction) the pod's termination reason; failing that the Build's own status message.
        None for succeeded builds and when nothing is known.
        """
        if self.phase == SUCCEEDED:
            return None
        if self.plugin_error:
            plugin, message = self.plugin_error
            text = f"Error in plugin {plugin}"
            return one_line(f"{text}: {message}" if message else text)
        if self.pod_failure:
            # A termination message is the tail of the pod's output: its last line is the
            # error; the whole tail is in the task's log files already.
            code = self.pod_failure.get("exitCode")
            detail = _last_line(self.pod_failure.get("reason"))
            text = "Error in pod" if code is None else f"Error in pod: exit code {code}"
            return one_line(f"{text}: {detail}" if detail else text)
        if self.status_reason or self.status_message:
            return one_line(": ".join(part for part in (self.status_reason, self.status_message)
                                      if part))
        return None


def _last_line(text: Any) -> Optional[str]:
    if not isinstance(text, str):
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def build_path(namespace: Optional[str], name: Optional[str]) -> Optional[str]:
    if not namespace or not name:
        return None
    return f"/apis/build.openshift.io/v1/namespaces/{namespace}/builds/{name}"


# --------------------------------------------------------------------------- diagnosis


def _events(events: Any) -> list[Mapping[str, Any]]:
    if isinstance(events, Mapping):
        events = events.get("items")
    return [event for event in events if isinstance(event, Mapping)] if isinstance(
        events, list) else []


def _latest_warning(events: Any, object_names: set[str]) -> Optional[str]:
    warnings = [event for event in _events(events)
                if event.get("type") == "Warning"
                and _dig(event, "involvedObject", "name") in object_names
                and _text(event.get("message"))]
    if not warnings:
        return None
    latest = max(warnings, key=lambda event: str(event.get("lastTimestamp") or ""))
    return one_line(f"{latest.get('reason') or 'Warning'}: {latest['message']}")


def diagnose_pending(build: Any, pods: Any = None, events: Any = None) -> Optional[str]:
    """Why a New/Pending build is not running yet, as one line; None when nothing is known.

    Looks at the pod's PodScheduled condition (unschedulable: no node fits, taints, quota of
    nodes), its containers' waiting reasons (image pull failures), Warning events of the build
    and pod (quota refusing the pod), and the Serial BuildConfig queue.
    """
    pod = build_pod(build, pods)
    pod_name = _text(_dig(pod, "metadata", "name"))
    conditions = _dig(pod, "status", "conditions")
    for condition in conditions if isinstance(conditions, list) else []:
        if (_dig(condition, "type") == "PodScheduled" and _dig(condition, "status") == "False"):
            detail = _text(_dig(condition, "message")) or _text(_dig(condition, "reason"))
            return one_line(f"build pod {pod_name} cannot be scheduled: "
                            f"{detail or 'no node accepts it'}")
    statuses = _dig(pod, "status", "containerStatuses")
    for container in statuses if isinstance(statuses, list) else []:
        waiting = _dig(container, "state", "waiting")
        reason = _text(_dig(waiting, "reason"))
        if reason in _POD_START_FAILURES:
            message = _text(_dig(waiting, "message"))
            return one_line(f"build pod {pod_name} cannot start: {reason}"
                            + (f": {message}" if message else ""))
    build_name = _text(_dig(build, "metadata", "name"))
    warning = _latest_warning(events, {name for name in (build_name, pod_name) if name})
    if warning:
        return f"build {build_name} is waiting: {warning}"
    reason = _text(_dig(build, "status", "reason"))
    message = _text(_dig(build, "status", "message"))
    if reason or message:
        return one_line(f"build {build_name} is waiting: "
                        + ": ".join(part for part in (reason, message) if part))
    config = _text(_dig(build, "status", "config", "name")) or _text(
        _dig(build, "metadata", "labels", "buildconfig"))
    if pod is None and build_phase(build) == PENDING and \
            str(_dig(build, "status", "phase")).lower() == "new" and config:
        return (f"build {build_name} is queued behind an earlier build of BuildConfig {config} "
                "(Serial run policy: one build per repository and branch at a time)")
    return None


def diagnose_failure(build: Any, pods: Any = None) -> Optional[str]:
    """A plain-words cause for infrastructure failures (eviction, deadline); None otherwise."""
    pod = build_pod(build, pods)
    pod_reason = _text(_dig(pod, "status", "reason"))
    pod_message = _text(_dig(pod, "status", "message"))
    build_reason = _text(_dig(build, "status", "reason"))
    node = node_name(pod)
    on_node = f" on node {node}" if node else ""
    if pod_reason == "Evicted" or build_reason == "BuildPodEvicted":
        resource = None
        marker = "low on resource:"
        if pod_message and marker in pod_message:
            resource = pod_message.split(marker, 1)[1].strip().split(".")[0].strip(" []") or None
        cause = f"the node ran out of {resource}" if resource else "the node ran out of resources"
        detail = f" ({pod_message})" if pod_message else ""
        return one_line(f"The build pod was evicted{on_node}: {cause}{detail}. "
                        "This is a cluster problem; submit the build again.")
    if pod_reason == "DeadlineExceeded" or build_reason == "DeadlineExceeded":
        seconds = _dig(build, "spec", "completionDeadlineSeconds")
        limit = ""
        if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > 0:
            limit = f" of {seconds // 3600}h" if seconds % 3600 == 0 else f" of {seconds}s"
        return (f"The build ran longer than its deadline{limit} (completionDeadlineSeconds) "
                "and was stopped; raise orchestrator_max_run_hours (worker_max_run_hours for "
                "source builds) in osbs.conf, or find what made it slow.")
    return None
