"""A local stand-in for the OpenShift 3.9 API that osbs-client 1.10 speaks (contract §9).

Loopback only. Builds move New → Pending → Running → Complete/Failed/Cancelled while a
scenario (``scenarios``) writes their log and atomic-reactor metadata; faults (``faults``)
make the API misbehave on purpose. Run it with
``python -m koji_containerbuild.sandbox.openshift --listen 127.0.0.1:PORT`` or in-process::

    with OpenShiftSimulator(token="secret", time_scale=0.01) as sim:
        requests.post(sim.url + "/apis/build.openshift.io/v1/namespaces/default/builds", ...)

Pieces: ``http`` (wire, streams), ``api`` (REST rules), ``engine`` (build
controller, pods), ``store`` (objects, watch events, selectors), ``logs`` (logs),
``reactor`` (atomic-reactor's log lines and metadata).
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Optional

from koji_containerbuild.sandbox.openshift.api import Api, json_body
from koji_containerbuild.sandbox.openshift.engine import BuildEngine
from koji_containerbuild.sandbox.openshift.faults import FaultInjector, Faults
from koji_containerbuild.sandbox.openshift.http import Server
from koji_containerbuild.sandbox.openshift.images import imagestreamtag
from koji_containerbuild.sandbox.openshift.scenario_api import ScenarioSettings
from koji_containerbuild.sandbox.openshift.scenarios import SCENARIOS, scenario_from_source
from koji_containerbuild.sandbox.openshift.store import ApiError, ObjectStore, parse_label_selector

DEFAULT_REACTOR_CONFIG = """\
version: 1
koji:
  hub_url: http://koji.sandbox.local/kojihub
  root_url: http://koji.sandbox.local/kojifiles
  auth: {}
  task_annotations_whitelist: [remote_source_url]
source_registry: {url: registry.sandbox.local, insecure: true}
registries:
- url: https://registry.sandbox.local/v2
  insecure: true
registries_organization: sandbox
required_secrets: []
worker_token_secrets: []
build_env_vars: []
clusters:
  x86_64: [{name: worker-x86_64, max_concurrent_builds: 10}]
  ppc64le: [{name: worker-ppc64le, max_concurrent_builds: 10}]
"""
BUILDROOT_IST = ("buildroot:latest", "registry.sandbox.local/sandbox/buildroot@sha256:"
                 "1fb45ad9da7453dcc7d4c3f63464cd4553f4d4ca12d24f526a762c86708c6a91")
SETTINGS_KNOBS = ("large_log_bytes", "slow_log_lines", "slow_log_rate", "step_seconds",
                  "new_seconds", "pending_seconds")


def _require_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the simulator listens on loopback only, not {host!r}")


class OpenShiftSimulator:
    """The stand-in, for tests (in-process) and for ``main`` (a process of its own).

    Seeded with the ConfigMap ``reactor-config-map`` (a minimal reactor config whose
    ``koji.task_annotations_whitelist`` is ``[remote_source_url]``) and the ImageStreamTag
    ``buildroot:latest``.
    """

    def __init__(self, token: Optional[str] = None, namespace: str = "default",
                 faults: Optional[Faults] = None, time_scale: float = 1.0,
                 default_scenario: str = "success", host: str = "127.0.0.1", port: int = 0,
                 state_dir: Optional[str] = None, watch_timeout: float = 60.0,
                 log_wait_timeout: float = 10.0, settings: Optional[ScenarioSettings] = None,
                 user: str = "sandbox-user"):
        _require_loopback(host)
        self.namespace = namespace
        self.watch_timeout = watch_timeout
        self.settings = settings or ScenarioSettings()
        self.default_scenario = default_scenario
        self.scenario_selector: Callable[[dict], str] = self._select_scenario
        self._address = (host, port)
        self._injector = FaultInjector(faults or Faults())
        self._store = ObjectStore(namespace)
        self._engine = BuildEngine(self._store, self.settings, self._choose_scenario, time_scale,
                                   Path(state_dir) if state_dir else None)
        self._api = Api(self._store, self._engine, user)
        self._api.token = token
        self._api.log_wait_timeout = log_wait_timeout
        self._requests: deque[tuple[str, str]] = deque(maxlen=100_000)
        self._requests_lock = threading.Lock()
        self._stopped = threading.Event()
        self._server: Optional[Server] = None
        self.set_configmap("reactor-config-map", {"config.yaml": DEFAULT_REACTOR_CONFIG})
        self.set_imagestreamtag(*BUILDROOT_IST)

    def __repr__(self) -> str:   # never shows the token
        return f"OpenShiftSimulator(url={self.url!r}, namespace={self.namespace!r})"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OpenShiftSimulator:
        self._server = Server(self._address, self)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="sim-http").start()
        state_dir = self._engine.state_dir
        if state_dir:
            state_dir.mkdir(parents=True, exist_ok=True)
            (state_dir / "url").write_text(self.url + "\n")
        return self

    def stop(self) -> None:
        """Stop serving; end every stream, connection and build thread."""
        self._stopped.set()
        with self._store.lock:
            self._store.stopping = True
        self._store.wake_all()
        self._engine.stop()
        if self._server:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            deadline = time.monotonic() + 5
            while self._server.open_connections() and time.monotonic() < deadline:
                time.sleep(0.01)

    def __enter__(self) -> OpenShiftSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2] if self._server else self._address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    # -- knobs -------------------------------------------------------------------------------

    @property
    def token(self) -> Optional[str]:
        return self._api.token

    @token.setter
    def token(self, value: Optional[str]) -> None:
        self._api.token = value

    @property
    def forbidden(self) -> set[tuple[str, str]]:
        """(verb, resource) pairs answered 403, e.g. ``("create", "builds")``."""
        return self._api.forbidden

    @property
    def time_scale(self) -> float:
        return self._engine.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self._engine.time_scale = float(value)

    @property
    def log_wait_timeout(self) -> float:
        return self._api.log_wait_timeout

    @log_wait_timeout.setter
    def log_wait_timeout(self, value: float) -> None:
        self._api.log_wait_timeout = float(value)

    @property
    def default_scenario(self) -> str:
        return self._default_scenario

    @default_scenario.setter
    def default_scenario(self, name: str) -> None:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
        self._default_scenario = name

    @property
    def faults(self) -> Faults:
        return self._injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._injector.set(faults)

    def set_faults(self, **changes: Any) -> Faults:
        return self._injector.update(**changes)

    koji_work_dir = property(lambda self: self.settings.koji_work_dir,
                             lambda self, v: setattr(self.settings, "koji_work_dir", v))
    large_log_bytes = property(lambda self: self.settings.large_log_bytes,
                               lambda self, v: setattr(self.settings, "large_log_bytes", int(v)))
    slow_log_lines = property(lambda self: self.settings.slow_log_lines,
                              lambda self, v: setattr(self.settings, "slow_log_lines", int(v)))
    slow_log_rate = property(lambda self: self.settings.slow_log_rate,
                             lambda self, v: setattr(self.settings, "slow_log_rate", float(v)))

    def _select_scenario(self, build: dict) -> str:
        return scenario_from_source(build) or self.default_scenario

    def _choose_scenario(self, build: dict) -> str:
        chosen = self.scenario_selector(build)
        return chosen if chosen in SCENARIOS else self.default_scenario

    # -- objects, for tests ------------------------------------------------------------------

    def set_configmap(self, name: str, data: dict[str, str]) -> None:
        self._api.put("configmaps", name, {"metadata": {"name": name}, "data": dict(data)})

    def set_imagestreamtag(self, name: str, image_reference: str) -> None:
        self._api.put("imagestreamtags", name, imagestreamtag(name, image_reference))
        self._api.fire_image_triggers()

    def push_image(self, pullspec: str, reference: Optional[str] = None) -> str:
        """A new image for ``pullspec`` (``registry/repo:tag``) appears in the registry; tags
        that import it on schedule are re-imported at once. Returns its digest reference."""
        return self._api.images.push(pullspec, reference)

    def remove_image(self, pullspec: str) -> None:
        """The registry has no ``pullspec`` any more: imports of it fail (the tag 404s)."""
        self._api.images.remove(pullspec)

    def get_object(self, resource: str, name: str) -> dict:
        """Any stored object, e.g. ``get_object("imagestreams", "…")``; KeyError if absent."""
        try:
            return self._store.get(resource, name)
        except ApiError:
            raise KeyError(name) from None

    def get_build(self, name: str) -> dict:
        try:
            return self._store.get("builds", name)
        except ApiError:
            raise KeyError(name) from None

    def list_builds(self) -> list[dict]:
        return self._store.list("builds")[0]

    def get_pod(self, build_name: str) -> Optional[dict]:
        selector = parse_label_selector(f"openshift.io/build.name={build_name}")
        items = self._store.list("pods", selector)[0]
        return items[0] if items else None

    def scenario_of(self, build_name: str) -> str:
        return self._engine.runs[build_name].scenario

    def cancel_build(self, name: str) -> dict:
        """Cancel as the cluster would (an admin's ``oc cancel-build``)."""
        return self._engine.cancel(name)

    def wait_for_phase(self, name: str, phases: set[str], timeout: float) -> dict:
        def reached() -> bool:
            build = self._store.peek("builds", name)
            return build is not None and build["status"]["phase"] in phases
        if not self._store.wait_until(reached, timeout):
            build = self._store.peek("builds", name) or {}
            raise TimeoutError(f"build {name} is {build.get('status', {}).get('phase')} after "
                               f"{timeout}s, wanted one of {sorted(phases)}")
        return self.get_build(name)

    def emitted_log(self, name: str) -> bytes:
        """Exactly the bytes the scenario emitted so far (the truth for byte-identical checks)."""
        return b"".join(self._engine.runs[name].log.iter_chunks())

    def emitted_log_digest(self, name: str) -> tuple[int, str]:
        """(size, sha256 hex) of the emitted log, computed without holding it in memory."""
        return self._engine.runs[name].log.digest()

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path with query) of every request seen, oldest first (last 100 000)."""
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    def _record_request(self, method: str, path: str) -> None:
        with self._requests_lock:
            self._requests.append((method, path))

    # -- admin surface (/_sandbox/), for tests in another process -----------------------------

    def _admin(self, method: str, parts: list[str], body: bytes) -> tuple[int, Any]:
        try:
            return self._admin_route(method, parts, body)
        except (TypeError, ValueError, KeyError) as exc:
            raise ApiError.bad_request(f"bad sandbox request: {exc}") from None

    def _admin_route(self, method: str, parts: list[str], body: bytes) -> tuple[int, Any]:
        if parts == ["scenario"]:
            if method == "PUT":
                data = json_body(body)
                for key in SETTINGS_KNOBS:
                    if key in data:
                        kind = type(getattr(self.settings, key))
                        setattr(self.settings, key, kind(data[key]))
                if "default" in data:
                    self.default_scenario = data["default"]
                if "time_scale" in data:
                    self.time_scale = data["time_scale"]
            return 200, {"default": self.default_scenario, "known": sorted(SCENARIOS),
                         "time_scale": self.time_scale, **vars(self.settings)}
        if parts == ["faults"]:
            if method == "PUT":
                self.set_faults(**json_body(body))
            return 200, self.faults.to_json()
        if parts == ["requests"]:
            return 200, [list(item) for item in self.requests]
        if len(parts) == 2 and method == "PUT" and parts[0] in ("configmaps", "imagestreamtags"):
            data = json_body(body)
            if parts[0] == "configmaps":
                self.set_configmap(parts[1], data.get("data", data))
            else:
                self.set_imagestreamtag(parts[1], data["dockerImageReference"])
            return 200, self._store.get(parts[0], parts[1])
        if len(parts) >= 2 and parts[0] == "builds" and parts[1] in self._engine.runs:
            name, tail = parts[1], parts[2:]
            if not tail and method == "GET":
                return 200, {"build": self._store.get("builds", name), "pod": self.get_pod(name),
                             "scenario": self.scenario_of(name)}
            if tail == ["emitted-log"]:
                return 200, self._engine.runs[name].log      # streamed by http.py
            if tail == ["emitted-log-digest"]:
                size, digest = self.emitted_log_digest(name)
                return 200, {"size": size, "sha256": digest}
            if tail == ["cancel"] and method == "POST":
                return 200, self.cancel_build(name)
        raise ApiError(404, "NotFound", "no such sandbox endpoint")


# ---------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m koji_containerbuild.sandbox.openshift",
                                     description="Local OpenShift 3.9 API stand-in (loopback).")
    parser.add_argument("--listen", default="127.0.0.1:0",
                        help="HOST:PORT on loopback (port 0 picks a free one)")
    parser.add_argument("--token", help="require this bearer token")
    parser.add_argument("--token-file", help="require the bearer token read from this file")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--state-dir", help="write the URL and each finished build here")
    parser.add_argument("--scenario", default="success", choices=sorted(SCENARIOS))
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--watch-timeout", type=float, default=60.0)
    parser.add_argument("--large-log-bytes", type=int)
    parser.add_argument("--slow-log-lines", type=int)
    parser.add_argument("--slow-log-rate", type=float)
    for knob, kind in (("seed", int), ("error-rate", float), ("error-after-commit", float),
                       ("reset-rate", float), ("watch-drop-seconds", float),
                       ("log-cut-bytes", int), ("slow-seconds", float)):
        parser.add_argument(f"--{knob}", type=kind, help=f"fault knob {knob.replace('-', '_')}")
    # the real-image engine's options
    from koji_containerbuild.sandbox.openshift import buildah as sim_buildah
    sim_buildah.add_arguments(parser)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """Serve until SIGINT/SIGTERM; print the URL on one line first."""
    parser = _parser()
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    token = Path(args.token_file).read_text().strip() if args.token_file else args.token
    knobs = {name: getattr(args, name) for name in (
        "seed", "error_rate", "error_after_commit", "reset_rate", "watch_drop_seconds",
        "log_cut_bytes", "slow_seconds") if getattr(args, name) is not None}
    try:
        sim = OpenShiftSimulator(token=token, namespace=args.namespace, faults=Faults(**knobs),
                                 time_scale=args.time_scale, default_scenario=args.scenario,
                                 host=host.strip("[]") or "127.0.0.1", port=int(port or 0),
                                 state_dir=args.state_dir, watch_timeout=args.watch_timeout)
    except ValueError as exc:
        parser.error(str(exc))
    for name in ("large_log_bytes", "slow_log_lines", "slow_log_rate"):
        if getattr(args, name) is not None:
            setattr(sim, name, getattr(args, name))
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    from koji_containerbuild.sandbox.openshift import buildah as sim_buildah
    try:
        engine = sim_buildah.configure(sim, args)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"simulator: {exc}", file=sys.stderr, flush=True)
        return 1
    sim.start()
    print(sim.url, flush=True)
    while not done.wait(3600):
        pass
    sim.stop()
    if engine is not None:
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
