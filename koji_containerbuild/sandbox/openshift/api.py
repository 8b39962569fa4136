"""The REST verbs of the simulated OpenShift 3.9 API (contract §9): routing, bearer-token and
RBAC checks, CRUD rules per resource, BuildConfig instantiation and triggers, and when a
build's log may be read. Streams themselves are in ``http``."""

from __future__ import annotations

import copy
import hmac
import json
import threading
from dataclasses import dataclass
from typing import Any, Optional

from koji_containerbuild.sandbox.openshift.engine import BuildEngine
from koji_containerbuild.sandbox.openshift.images import ImageStreams
from koji_containerbuild.sandbox.openshift.store import (
    GROUPS,
    KINDS,
    ApiError,
    ObjectStore,
    parse_field_selector,
    parse_label_selector,
    qualified,
    rfc3339,
)

NO_LOGS = "No logs are available."


@dataclass
class Route:
    resource: str
    namespace: Optional[str] = None
    name: Optional[str] = None
    sub: Optional[str] = None
    watch: bool = False


def parse_route(segments: list[str]) -> Route:
    """``/api/v1/...``, ``/apis/<group>/v1/...``, ``/oapi/v1/...``, with or without ``watch/``."""
    not_found = ApiError(404, "NotFound", "the server could not find the requested resource")
    if segments[:2] == ["api", "v1"]:
        group, rest = "", segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis" and segments[2] == "v1":
        group, rest = segments[1], segments[3:]
    elif segments[:2] == ["oapi", "v1"]:
        group, rest = None, segments[2:]
    else:
        raise not_found
    watch = rest[:1] == ["watch"]
    rest = rest[1:] if watch else rest
    if rest == ["users", "~"] and group in ("user.openshift.io", None):
        return Route("users", name="~")
    if not 3 <= len(rest) <= 5 or rest[0] != "namespaces" or rest[2] not in GROUPS:
        raise not_found
    if group is not None and GROUPS[rest[2]] != group:
        raise not_found
    parts = rest + [None] * (5 - len(rest))
    return Route(rest[2], rest[1], parts[3], parts[4], watch)


def json_body(body: bytes) -> dict:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise ApiError.bad_request("the body of the request was in an unknown format") from None
    if not isinstance(data, dict):
        raise ApiError.bad_request("the body of the request must be a JSON object")
    return data


def _not_allowed(method: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                    f"requested resource ({method})")


class Api:
    """Answers to API requests, given the store and the build engine."""

    def __init__(self, store: ObjectStore, engine: BuildEngine, user: str = "sandbox-user"):
        self.store, self.engine, self.user = store, engine, user
        self.namespace = store.namespace
        self.token: Optional[str] = None
        self.forbidden: set[tuple[str, str]] = set()    # (verb, resource) answered 403
        self.log_wait_timeout = 10.0
        self._names = 0
        self.images = ImageStreams(store, self.fire_image_triggers)

    # -- auth --------------------------------------------------------------------------------

    def authenticate(self, header: Optional[str]) -> None:
        if self.token is None:
            return
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                                 self.token.encode()):
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def authorize(self, verb: str, route: Route) -> None:
        if route.resource == "users":
            return
        what = qualified(route.resource) + (f"/{route.sub}" if route.sub else "")
        denied = {(verb, route.resource), (verb, route.resource + f"/{route.sub or ''}")}
        if route.namespace != self.namespace or denied & self.forbidden:
            raise ApiError(403, "Forbidden",
                           f'{what} is forbidden: User "{self.user}" cannot {verb} {what} in the '
                           f'namespace "{route.namespace}": no RBAC policy matched',
                           {"group": GROUPS.get(route.resource, ""), "kind": route.resource})

    # -- verbs -------------------------------------------------------------------------------

    def dispatch(self, method: str, route: Route, query: dict[str, str],
                 body: bytes) -> tuple[int, Any]:
        resource, name, sub = route.resource, route.name, route.sub
        if resource == "users":
            if method != "GET":
                raise _not_allowed(method)
            return 200, self._user()
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update",
                "DELETE": "delete"}.get(method, method.lower())
        self.authorize(verb, route)
        if sub is not None:
            if resource == "buildconfigs" and sub == "instantiate" and method == "POST":
                return 201, self.instantiate(name or "", json_body(body))
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET":
            return 200, self.store.get(resource, name) if name else self._list(resource, query)
        if resource != "pods":
            if method == "POST" and not name:
                return 201, self.create(resource, json_body(body))
            if method == "PUT" and name:
                return self._update(resource, name, json_body(body))
            if method == "DELETE" and name:
                return 200, self._delete(resource, name)
        raise _not_allowed(method)

    def _user(self) -> dict:
        return {"kind": "User", "apiVersion": "user.openshift.io/v1", "groups": [],
                "identities": None,
                "metadata": {"name": self.user, "uid": "0b0e6e8c-5a4d-11e9-9f3e-fa163e98c891",
                             "selfLink": f"/apis/user.openshift.io/v1/users/{self.user}",
                             "resourceVersion": "1", "creationTimestamp": rfc3339(0)}}

    def _list(self, resource: str, query: dict[str, str]) -> dict:
        items, version = self.store.list(
            resource, parse_label_selector(query.get("labelSelector")),
            parse_field_selector(resource, query.get("fieldSelector")))
        for item in items:      # list items carry no kind/apiVersion (fixtures/builds_list.json)
            item.pop("kind", None)
            item.pop("apiVersion", None)
        group = GROUPS[resource]
        root = f"/apis/{group}/v1" if group else "/api/v1"
        return {"kind": f"{KINDS[resource]}List", "apiVersion": f"{group}/v1" if group else "v1",
                "metadata": {"selfLink": f"{root}/namespaces/{self.namespace}/{resource}",
                             "resourceVersion": version},
                "items": items}

    def _check_name(self, obj: dict, name: Optional[str]) -> str:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName") and name is None:
            with self.store.lock:
                self._names += 1
                meta["name"] = f"{meta['generateName']}{self._names:05d}"
        if not meta.get("name"):
            raise ApiError(422, "Invalid", "metadata.name: Required value: name or generateName "
                           "is required")
        if name is not None and meta["name"] != name:
            raise ApiError.bad_request(f"the name of the object ({meta['name']}) does not match "
                                       f"the name on the URL ({name})")
        if meta.get("namespace") not in (None, self.namespace):
            raise ApiError.bad_request("the namespace of the provided object does not match the "
                                       "namespace sent on the request")
        return meta["name"]

    def create(self, resource: str, obj: dict) -> dict:
        self._check_name(obj, None)
        for key in ("uid", "resourceVersion", "selfLink", "creationTimestamp"):
            obj["metadata"].pop(key, None)
        if resource == "builds":
            return self.engine.admit(obj)
        if resource == "buildconfigs":
            return self._admit_buildconfig(obj)
        if resource == "imagestreams":
            return self.images.create_stream(obj)
        if resource == "imagestreamtags":
            return self.images.put_tag(obj["metadata"]["name"], obj)[1]
        if resource == "imagestreamimports":
            return self.images.import_images(obj)
        return self.store.create(resource, obj)

    def put(self, resource: str, name: str, obj: dict) -> dict:
        """Create or replace, for objects tests seed (configmaps, imagestreamtags)."""
        with self.store.lock:
            if not self.store.exists(resource, name):
                return self.store.create(resource, copy.deepcopy(obj))

            def replace(current: dict) -> None:
                current.update({k: copy.deepcopy(v) for k, v in obj.items() if k != "metadata"})
            return self.store.update(resource, name, replace)

    def _update(self, resource: str, name: str, obj: dict) -> tuple[int, dict]:
        self._check_name(obj, name)
        meta_in = obj["metadata"]
        if resource == "imagestreamtags":
            with self.store.lock:
                return self.images.put_tag(name, obj)

        def apply(current: dict) -> None:
            if resource == "builds" and obj.get("spec") not in (None, current.get("spec")):
                raise ApiError(422, "Invalid", f'Build.build.openshift.io "{name}" is invalid: '
                               'spec: Invalid value: "content of spec is not printed out": '
                               "spec is immutable")
            meta = current["metadata"]
            for key in ("labels", "annotations"):
                if meta_in.get(key) is not None:
                    meta[key] = dict(meta_in[key])
                else:
                    meta.pop(key, None)
            if resource == "builds":
                if (obj.get("status") or {}).get("cancelled"):
                    self.engine.mark_cancelled(current)
            else:
                current.update({k: copy.deepcopy(v) for k, v in obj.items()
                                if k not in ("metadata", "status", "kind", "apiVersion")})
        updated = self.store.update(resource, name, apply,
                                    expected_rv=meta_in.get("resourceVersion"))
        if resource == "buildconfigs":
            self.fire_image_triggers()
            updated = self.store.get(resource, name)
        return 200, updated

    def _delete(self, resource: str, name: str) -> dict:
        self.store.delete(resource, name)
        if resource == "builds":
            self.engine.forget(name)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": GROUPS[resource], "kind": resource}}

    # -- buildconfigs ------------------------------------------------------------------------

    def _admit_buildconfig(self, obj: dict) -> dict:
        spec = obj.setdefault("spec", {})
        for key, default in (("runPolicy", "Serial"), ("triggers", []), ("nodeSelector", None),
                             ("postCommit", {}), ("resources", {})):
            spec.setdefault(key, default)
        obj["status"] = {"lastVersion": 0}
        created = self.store.create("buildconfigs", obj)
        name = created["metadata"]["name"]
        if any(t.get("type") == "ConfigChange" for t in spec["triggers"]):
            self.instantiate(name, {}, "Build configuration change")
        self.fire_image_triggers()
        return self.store.get("buildconfigs", name)

    def instantiate(self, name: str, request: dict, cause: str = "Manually triggered") -> dict:
        """``POST buildconfigs/NAME/instantiate``: build ``NAME-<lastVersion+1>`` (§4.3)."""
        if (request.get("metadata") or {}).get("name") not in (None, name):
            raise ApiError.bad_request("the name of the object does not match the name on the URL")
        with self.store.lock:
            config = self.store.update("buildconfigs", name, _bump_version)
            version = config["status"]["lastVersion"]
            spec = copy.deepcopy(config["spec"])
            policy = spec.pop("runPolicy", "Serial")
            for key in ("triggers", "successfulBuildsHistoryLimit", "failedBuildsHistoryLimit"):
                spec.pop(key, None)
            spec["triggeredBy"] = request.get("triggeredBy") or [{"message": cause}]
            labels = dict(config["metadata"].get("labels") or {})
            labels.update({"buildconfig": name, "openshift.io/build-config.name": name,
                           "openshift.io/build.start-policy": policy})
            annotations = dict((request.get("metadata") or {}).get("annotations") or {})
            annotations.update({"openshift.io/build-config.name": name,
                                "openshift.io/build.number": str(version)})
            owner = {"apiVersion": "build.openshift.io/v1", "kind": "BuildConfig", "name": name,
                     "uid": config["metadata"]["uid"], "controller": True}
            build = {"metadata": {"name": f"{name}-{version}", "labels": labels,
                                  "annotations": annotations, "ownerReferences": [owner]},
                     "spec": spec}
            if policy == "SerialLatestOnly":
                selector = parse_label_selector(f"openshift.io/build-config.name={name}")
                for older in self.store.list("builds", selector)[0]:
                    if older["status"]["phase"] == "New":
                        self.engine.cancel(older["metadata"]["name"])
            return self.engine.admit(build, config)

    def fire_image_triggers(self) -> None:
        """Instantiate configs whose ImageChange trigger sees a new image (§4.3 step 9)."""
        with self.store.lock:
            for config in self.store.list("buildconfigs")[0]:
                spec = config["spec"]
                strategy_from = ((spec.get("strategy") or {}).get("customStrategy") or {}) \
                    .get("from") or {}
                for index, trigger in enumerate(spec.get("triggers") or []):
                    change = trigger.get("imageChange")
                    if trigger.get("type") != "ImageChange" or change is None:
                        continue
                    source = change.get("from") or strategy_from
                    tag = self.store.peek("imagestreamtags", source.get("name", "")) \
                        if source.get("kind") == "ImageStreamTag" else None
                    image = ((tag or {}).get("image") or {}).get("dockerImageReference")
                    if not image or image == change.get("lastTriggeredImageID"):
                        continue

                    def remember(bc: dict, i: int = index, ref: str = image) -> None:
                        bc["spec"]["triggers"][i]["imageChange"]["lastTriggeredImageID"] = ref
                    self.store.update("buildconfigs", config["metadata"]["name"], remember)
                    self.instantiate(config["metadata"]["name"], {}, "Image change")

    # -- logs --------------------------------------------------------------------------------

    def log_phase(self, name: str, nowait: bool, stop: threading.Event) -> Optional[str]:
        """The phase a log request streams in, decided as OpenShift's buildlog REST does.

        New/Pending: wait up to ``log_wait_timeout`` for the build to start (504 Timeout after);
        Cancelled/Error: 400 "No logs are available."; ``nowait``: None (an empty answer).
        """
        phase = self.store.get("builds", name)["status"]["phase"]
        if phase in ("New", "Pending"):
            if nowait:
                return None

            def started() -> bool:
                current = self.store.peek("builds", name)
                return current is None or current["status"]["phase"] not in ("New", "Pending")
            ok = self.store.wait_until(started, self.log_wait_timeout, stop)
            phase = self.store.get("builds", name)["status"]["phase"]
            if phase == "Cancelled":
                raise ApiError.bad_request(f"build {name} was cancelled: {NO_LOGS}")
            if phase == "Error":
                raise ApiError.bad_request(f"build {name} encountered an error: {NO_LOGS}")
            if not ok:
                raise ApiError(504, "Timeout", f"Timeout: timed out waiting for build {name} to "
                               f"start after {self.log_wait_timeout:g}s", {"retryAfterSeconds": 1})
        elif phase == "Cancelled":
            raise ApiError.bad_request(f"build {name} was cancelled. {NO_LOGS}")
        elif phase == "Error":
            raise ApiError.bad_request(f"build {name} is in an error state. {NO_LOGS}")
        return phase


def _bump_version(config: dict) -> None:
    config.setdefault("status", {})
    config["status"]["lastVersion"] = int(config["status"].get("lastVersion") or 0) + 1
