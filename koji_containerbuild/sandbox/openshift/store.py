"""Object store of the OpenShift simulator: objects, resource versions, watch events and
label/field selectors.

One lock guards every object; a ``Condition`` on it wakes threads waiting for a state (build
threads, log requests). Each watch has its own subscription queue; past events also live in a
bounded window (like the API server's watch cache) for watches that start at a
``resourceVersion`` — one older than the window is told ``410 Gone``.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Optional

GROUPS = {
    "builds": "build.openshift.io",
    "buildconfigs": "build.openshift.io",
    "imagestreams": "image.openshift.io",
    "imagestreamtags": "image.openshift.io",
    "imagestreamimports": "image.openshift.io",
    "configmaps": "",
    "pods": "",
}
KINDS = {
    "builds": "Build",
    "buildconfigs": "BuildConfig",
    "imagestreams": "ImageStream",
    "imagestreamtags": "ImageStreamTag",
    "imagestreamimports": "ImageStreamImport",
    "configmaps": "ConfigMap",
    "pods": "Pod",
}
EVENT_WINDOW = 4096


def qualified(resource: str) -> str:
    """``builds.build.openshift.io`` — the resource name OpenShift messages use."""
    group = GROUPS.get(resource, "")
    return f"{resource}.{group}" if group else resource


def api_version(resource: str) -> str:
    group = GROUPS.get(resource, "")
    return f"{group}/v1" if group else "v1"


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class ApiError(Exception):
    """An answer in the shape of a Kubernetes ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: Optional[dict] = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def not_found(cls, resource: str, name: str) -> ApiError:
        return cls(404, "NotFound", f'{qualified(resource)} "{name}" not found',
                   {"name": name, "group": GROUPS.get(resource, ""), "kind": resource})

    @classmethod
    def already_exists(cls, resource: str, name: str) -> ApiError:
        return cls(409, "AlreadyExists", f'{qualified(resource)} "{name}" already exists',
                   {"name": name, "group": GROUPS.get(resource, ""), "kind": resource})

    @classmethod
    def conflict(cls, resource: str, name: str) -> ApiError:
        return cls(409, "Conflict",
                   f'Operation cannot be fulfilled on {qualified(resource)} "{name}": the object '
                   "has been modified; please apply your changes to the latest version and try "
                   "again",
                   {"name": name, "group": GROUPS.get(resource, ""), "kind": resource})

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)


# ---------------------------------------------------------------------------------------------
# Selectors

Predicate = Callable[[dict], bool]


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``( )`` (set-based requirements)."""
    terms, depth, current = [], 0, []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t.strip() for t in terms if t.strip()]


_SET_TERM = re.compile(r"^([^\s!=()]+)\s+(in|notin)\s+\((.*)\)$")
_EQ_TERM = re.compile(r"^([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=()]*)$")
_EXISTS_TERM = re.compile(r"^(!?)([^\s!=()]+)$")


def parse_label_selector(selector: Optional[str]) -> Predicate:
    """Kubernetes label selector: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``."""
    checks: list[Predicate] = []
    for term in _split_terms(selector or ""):
        if m := _SET_TERM.match(term):
            key, op = m.group(1), m.group(2)
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            if op == "in":
                checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif m := _EQ_TERM.match(term):
            key, op, value = m.groups()
            if op == "!=":
                checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif m := _EXISTS_TERM.match(term):
            negate, key = m.group(1) == "!", m.group(2)
            checks.append(lambda labels, k=key, n=negate: (k in labels) != n)
        else:
            raise ApiError.bad_request(f"unable to parse requirement: {term!r}")
    return lambda labels: all(check(labels) for check in checks)


def object_fields(resource: str, obj: dict) -> dict[str, str]:
    """The fields a field selector may use, per resource (as OpenShift 3.9 supports them)."""
    meta = obj.get("metadata") or {}
    fields = {"metadata.name": meta.get("name", ""),
              "metadata.namespace": meta.get("namespace", "")}
    status = obj.get("status") or {}
    if resource == "builds":
        fields["status"] = status.get("phase", "")
        fields["podName"] = (meta.get("annotations") or {}).get("openshift.io/build.pod-name", "")
    elif resource == "pods":
        spec = obj.get("spec") or {}
        fields["status.phase"] = status.get("phase", "")
        fields["spec.nodeName"] = spec.get("nodeName") or ""
        fields["spec.restartPolicy"] = spec.get("restartPolicy", "")
    return fields


def parse_field_selector(resource: str, selector: Optional[str]) -> Predicate:
    """Field selector of ``=``/``==``/``!=`` terms, e.g. ``status!=Failed,status!=Complete``."""
    probe = object_fields(resource, {})
    checks: list[Predicate] = []
    for term in _split_terms(selector or ""):
        m = _EQ_TERM.match(term)
        if not m:
            raise ApiError.bad_request(f"invalid selector: {term!r}")
        key, op, value = m.groups()
        if key not in probe:
            raise ApiError.bad_request(f"field label not supported: {key}")
        if op == "!=":
            checks.append(lambda fields, k=key, v=value: fields.get(k) != v)
        else:
            checks.append(lambda fields, k=key, v=value: fields.get(k) == v)
    return lambda fields: all(check(fields) for check in checks)


# ---------------------------------------------------------------------------------------------
# Objects and events


@dataclass(frozen=True)
class WatchEvent:
    seq: int
    rv: int
    resource: str
    type: str
    name: str
    labels: dict
    fields: dict
    payload: bytes     # the serialized ``{"type", "object"}`` line, newline included


class Subscription:
    """One watch: its own queue and wake-up, so a change wakes only the watchers it concerns."""

    def __init__(self, resource: str, name: Optional[str]):
        self.resource, self.name = resource, name
        self.initial: list[bytes] = []
        self.queue: deque[WatchEvent] = deque()
        self.wake = threading.Event()
        self.overflow = False

    def wants(self, resource: str, name: str) -> bool:
        return resource == self.resource and self.name in (None, name)


class ObjectStore:
    """All API objects of one namespace, with resource versions and a watch-event window."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[str, dict[str, dict]] = {r: {} for r in GROUPS}
        self._rv = 1000
        self._seq = 0
        self._events: deque[WatchEvent] = deque(maxlen=EVENT_WINDOW)
        self._subs: set[Subscription] = set()
        self.stopping = False

    def self_link(self, resource: str, name: str) -> str:
        group = GROUPS[resource]
        root = f"/apis/{group}/v1" if group else "/api/v1"
        return f"{root}/namespaces/{self.namespace}/{resource}/{name}"

    def _bump(self, obj: dict) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    def _record(self, resource: str, event_type: str, obj: dict) -> None:
        self._seq += 1
        meta = obj["metadata"]
        line = json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n"
        event = WatchEvent(self._seq, int(meta["resourceVersion"]), resource, event_type,
                           meta["name"], dict(meta.get("labels") or {}),
                           object_fields(resource, obj), line.encode())
        self._events.append(event)
        for sub in self._subs:      # wake only the watchers of this object
            if sub.wants(resource, event.name):
                if len(sub.queue) >= EVENT_WINDOW:
                    sub.overflow = True
                else:
                    sub.queue.append(event)
                sub.wake.set()
        self.changed.notify_all()

    # -- CRUD --------------------------------------------------------------------------------

    def create(self, resource: str, obj: dict) -> dict:
        with self.lock:
            meta = obj.setdefault("metadata", {})
            name = meta.get("name")
            if name in self._objects[resource]:
                raise ApiError.already_exists(resource, name)
            obj["kind"] = KINDS[resource]
            obj["apiVersion"] = api_version(resource)
            meta.update(namespace=self.namespace, selfLink=self.self_link(resource, name),
                        uid=str(uuid.uuid4()), creationTimestamp=rfc3339(time.time()))
            self._bump(obj)
            self._objects[resource][name] = obj
            self._record(resource, "ADDED", obj)
            return copy.deepcopy(obj)

    def get(self, resource: str, name: str) -> dict:
        with self.lock:
            obj = self._objects[resource].get(name)
            if obj is None:
                raise ApiError.not_found(resource, name)
            return copy.deepcopy(obj)

    def exists(self, resource: str, name: str) -> bool:
        with self.lock:
            return name in self._objects[resource]

    def peek(self, resource: str, name: str) -> Optional[dict]:
        """The live object (no copy) — callers must hold ``lock`` and not mutate it."""
        return self._objects[resource].get(name)

    def live(self, resource: str, labels: Optional[Predicate] = None,
             fields: Optional[Predicate] = None) -> list[dict]:
        """Matching live objects in creation order — callers hold ``lock`` and only read."""
        items = []
        for obj in self._objects[resource].values():
            meta = obj["metadata"]
            if labels and not labels(meta.get("labels") or {}):
                continue
            if fields and not fields(object_fields(resource, obj)):
                continue
            items.append(obj)
        return items

    def list(self, resource: str, labels: Optional[Predicate] = None,
             fields: Optional[Predicate] = None) -> tuple[list[dict], str]:
        with self.lock:
            return copy.deepcopy(self.live(resource, labels, fields)), str(self._rv)

    def update(self, resource: str, name: str, mutate: Callable[[dict], Optional[bool]],
               expected_rv: Optional[str] = None) -> dict:
        """Apply ``mutate`` to the live object; a change bumps the version and emits MODIFIED.

        ``mutate`` returns False to signal "nothing changed" (no event, no new version).
        """
        with self.lock:
            obj = self._objects[resource].get(name)
            if obj is None:
                raise ApiError.not_found(resource, name)
            if expected_rv and expected_rv != obj["metadata"]["resourceVersion"]:
                raise ApiError.conflict(resource, name)
            if mutate(obj) is not False:
                self._bump(obj)
                self._record(resource, "MODIFIED", obj)
            return copy.deepcopy(obj)

    def delete(self, resource: str, name: str) -> dict:
        with self.lock:
            obj = self._objects[resource].pop(name, None)
            if obj is None:
                raise ApiError.not_found(resource, name)
            self._bump(obj)
            self._record(resource, "DELETED", obj)
            return copy.deepcopy(obj)

    # -- watching ----------------------------------------------------------------------------

    def watch(self, resource: str, name: Optional[str], matches: Callable[[dict], bool],
              resource_version: Optional[str] = None) -> Optional[Subscription]:
        """Subscribe to changes of ``resource`` (one ``name`` or all).

        Without a resource version the subscription starts with an ADDED line per matching
        object; with one it replays the later events still in the window. None: that
        version left the window (the watcher must be told 410 Gone).
        """
        with self.lock:
            sub = Subscription(resource, name)
            if resource_version and resource_version != "0":
                after = self._seq_after(resource_version)
                if after is None:
                    return None
                sub.queue.extend(e for e in self._events
                                 if e.seq > after and sub.wants(e.resource, e.name))
            else:
                for obj in self._objects[resource].values():
                    if matches(obj):
                        line = json.dumps({"type": "ADDED", "object": obj}, separators=(",", ":"))
                        sub.initial.append(line.encode() + b"\n")
            self._subs.add(sub)
            return sub

    def unwatch(self, sub: Subscription) -> None:
        with self.lock:
            self._subs.discard(sub)

    def _seq_after(self, resource_version: str) -> Optional[int]:
        try:
            wanted = int(resource_version)
        except ValueError:
            raise ApiError.bad_request(f"invalid resourceVersion {resource_version!r}") from None
        if wanted >= self._rv:
            return self._seq
        for event in self._events:
            if event.rv > wanted:
                evicted = len(self._events) == self._events.maxlen
                return None if evicted and event.rv > wanted + 1 else event.seq - 1
        return None

    def next_events(self, sub: Subscription, deadline: float, stop: threading.Event
                    ) -> Optional[list[WatchEvent]]:
        """The subscription's pending events, waiting for some until ``deadline`` (monotonic).

        Returns None when the watcher fell too far behind (it must be told 410 Gone).
        """
        while True:
            with self.lock:
                if sub.overflow:
                    return None
                if sub.queue:
                    events = list(sub.queue)
                    sub.queue.clear()
                    return events
                if self.stopping or stop.is_set():
                    return []
                sub.wake.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            sub.wake.wait(remaining)

    def wait_until(self, predicate: Callable[[], bool], timeout: Optional[float],
                   stop: Optional[threading.Event] = None) -> bool:
        """Block until ``predicate()`` (evaluated under the lock) holds; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while not predicate():
                if self.stopping or (stop is not None and stop.is_set()):
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.changed.wait(remaining if remaining is not None else 5.0)
            return True

    def wake_all(self) -> None:
        with self.lock:
            self.changed.notify_all()
            for sub in self._subs:
                sub.wake.set()
