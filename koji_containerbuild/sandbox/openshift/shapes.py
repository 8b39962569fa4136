"""What the build controller writes as a build moves on: the Build's status at each phase change
and its build pod (shape of fixtures/openshift-3.9.41/pods.json), apart from the run lifecycle
in ``engine`` that decides when each applies. Plain functions on the stored objects, called
inside store updates, so they take no lock and know no run.
"""

from __future__ import annotations

import json
import time
from typing import Optional

from koji_containerbuild.sandbox.openshift.scenario_api import Outcome
from koji_containerbuild.sandbox.openshift.store import rfc3339


def set_duration(status: dict, now: float) -> None:
    """``status.duration`` in nanoseconds since ``startTimestamp``, when the build started."""
    started = status.get("startTimestamp")
    if started:
        begun = time.mktime(time.strptime(started, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        status["duration"] = max(0, int((now - begun) * 1e9))


def to_pending(build: dict) -> None:
    """What the build controller does when it creates the pod (after the New answer)."""
    build["status"]["phase"] = "Pending"
    meta = build["metadata"]
    meta["annotations"] = {**(meta.get("annotations") or {}),
                           "openshift.io/build.pod-name": f"{meta['name']}-build"}
    output = build["spec"].get("output")
    if output and output.get("to"):
        output.setdefault("pushSecret", {"name": "builder-dockercfg-sandbox"})
        if output["to"].get("kind") == "DockerImage":
            build["status"]["outputDockerImageReference"] = output["to"].get("name", "")


def to_running(build: dict) -> None:
    """The pod's container started: the build runs from now."""
    build["status"].update(phase="Running", startTimestamp=rfc3339(time.time()))


def _condition(kind: str, status: str, when: str, reason: Optional[str] = None,
               message: Optional[str] = None) -> dict:
    cond = {"lastProbeTime": None, "lastTransitionTime": when, "status": status, "type": kind}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _container(state: dict, ready: bool, container_id: str = "") -> dict:
    status = {"image": "buildroot:latest", "imageID": "docker-pullable://buildroot:latest",
              "lastState": {}, "name": "custom-build", "ready": ready, "restartCount": 0,
              "state": state}
    if container_id:
        status["containerID"] = container_id
    return status


def new_pod(build: dict, node: str = "node-1.sandbox.local") -> dict:
    """The build pod as the build controller creates it (scheduled, container creating)."""
    meta, spec = build["metadata"], build.get("spec") or {}
    name, now = meta["name"], rfc3339(time.time())
    git = (spec.get("source") or {}).get("git") or {}
    strategy = (spec.get("strategy") or {}).get("customStrategy") or {}
    env = [{"name": "BUILD", "value": json.dumps(build, separators=(",", ":"))}]
    if git:
        env += [{"name": key, "value": git.get(field, "")} for key, field in
                (("SOURCE_REPOSITORY", "uri"), ("SOURCE_URI", "uri"), ("SOURCE_REF", "ref"))]
    env += [e for e in strategy.get("env") or [] if e.get("name") in ("REACTOR_CONFIG",
                                                                         "USER_PARAMS")]
    account = spec.get("serviceAccount", "builder")
    return {
        "metadata": {
            "name": f"{name}-build", "labels": {"openshift.io/build.name": name},
            "annotations": {"openshift.io/build.name": name, "openshift.io/scc": "privileged"},
            "ownerReferences": [{"apiVersion": "build.openshift.io/v1", "kind": "Build",
                                 "name": name, "uid": meta["uid"], "controller": True}]},
        "spec": {
            "activeDeadlineSeconds": spec.get("completionDeadlineSeconds"),
            "containers": [{"name": "custom-build", "env": env,
                            "image": (strategy.get("from") or {}).get("name", ""),
                            "imagePullPolicy": "IfNotPresent",
                            "resources": spec.get("resources") or {},
                            "securityContext": {"privileged": True},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "volumeMounts": [{"mountPath": "/var/run/docker.sock",
                                              "name": "docker-socket"}]}],
            "dnsPolicy": "ClusterFirst",
            "imagePullSecrets": [{"name": "builder-dockercfg-sandbox"}],
            "nodeName": node, "nodeSelector": spec.get("nodeSelector") or {}, "priority": 0,
            "restartPolicy": "Never", "schedulerName": "default-scheduler",
            "securityContext": {}, "serviceAccount": account, "serviceAccountName": account,
            "terminationGracePeriodSeconds": 30,
            "tolerations": [{"effect": "NoSchedule", "key": "node.kubernetes.io/memory-pressure",
                             "operator": "Exists"}],
            "volumes": [{"name": "docker-socket",
                         "hostPath": {"path": "/var/run/docker.sock", "type": ""}}]},
        "status": {
            "phase": "Pending", "hostIP": "10.0.10.126", "qosClass": "Burstable",
            "startTime": now,
            "conditions": [_condition("Initialized", "True", now),
                           _condition("Ready", "False", now, "ContainersNotReady"),
                           _condition("ContainersReady", "False", now, "ContainersNotReady"),
                           _condition("PodScheduled", "True", now)],
            "containerStatuses": [_container({"waiting": {"reason": "ContainerCreating"}},
                                             ready=False)]},
    }


def pod_unschedulable(pod: dict, message: str) -> None:
    """No node fits: the scheduler took the pod back, as a pending build then shows."""
    pod["spec"].pop("nodeName", None)
    status = pod["status"]
    for key in ("hostIP", "startTime", "containerStatuses"):
        status.pop(key, None)
    status["conditions"] = [_condition("PodScheduled", "False", rfc3339(time.time()),
                                       "Unschedulable", message)]


def pod_running(pod: dict, container_id: str) -> None:
    """The build container started on the node."""
    now = rfc3339(time.time())
    status = pod["status"]
    status.update(phase="Running", podIP="172.20.48.82")
    status["conditions"] = [_condition(kind, "True", now) for kind in
                            ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
    status["containerStatuses"] = [_container({"running": {"startedAt": now}}, True,
                                              container_id)]


def pod_finished(pod: dict, outcome: Outcome) -> None:
    """The container ended as the scenario's outcome says (exit code, reasons, message)."""
    now = rfc3339(time.time())
    status = pod["status"]
    status["phase"] = "Succeeded" if outcome.phase == "Complete" else "Failed"
    for cond in status.get("conditions") or []:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond.update(status="False", lastTransitionTime=now, reason="PodCompleted")
    if outcome.pod_reason:
        status.update(reason=outcome.pod_reason, message=outcome.pod_message or "")
    if not outcome.container_statuses:
        status.pop("containerStatuses", None)
        return
    old = (status.get("containerStatuses") or [{}])[0]
    started = ((old.get("state") or {}).get("running") or {}).get("startedAt", now)
    terminated = {"exitCode": outcome.exit_code, "reason": outcome.container_reason or "Error",
                  "startedAt": started, "finishedAt": now,
                  "containerID": old.get("containerID", "")}
    if outcome.container_message:
        terminated["message"] = outcome.container_message[-2048:]
    status["containerStatuses"] = [_container({"terminated": terminated}, False,
                                              old.get("containerID", ""))]


def pod_deleting(pod: dict) -> None:
    """A cancelled build's pod is being deleted: it stays for its 30 s grace period."""
    pod["metadata"].update(deletionTimestamp=rfc3339(time.time() + 30),
                           deletionGracePeriodSeconds=30)
