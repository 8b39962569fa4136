"""The simulator's build controller: runs each Build's scenario in its own thread and keeps the
Build status and its pod (shape of fixtures/openshift-3.9.41/pods.json) as OpenShift 3.9 does.

Transitions are guarded under the store lock, so a cancel that lands at any moment wins over
whatever the scenario does next. What each transition writes into the Build and its pod is
``shapes``'s.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from koji_containerbuild.sandbox.openshift.logs import LogBuffer
from koji_containerbuild.sandbox.openshift.scenario_api import (
    BuildCancelled,
    Outcome,
    ScenarioSettings,
)
from koji_containerbuild.sandbox.openshift.scenarios import SCENARIOS
from koji_containerbuild.sandbox.openshift.shapes import (
    new_pod,
    pod_deleting,
    pod_finished,
    pod_running,
    pod_unschedulable,
    set_duration,
    to_pending,
    to_running,
)
from koji_containerbuild.sandbox.openshift.store import (
    ApiError,
    ObjectStore,
    parse_label_selector,
    rfc3339,
)

log = logging.getLogger(__name__)

ACTIVE = ("New", "Pending", "Running")


def strategy_env(build: dict, name: str) -> Optional[dict]:
    strategy = ((build.get("spec") or {}).get("strategy") or {}).get("customStrategy") or {}
    return next((e for e in strategy.get("env") or [] if e.get("name") == name), None)


class BuildRun:
    """One build being played; implements ``scenarios.BuildContext``."""

    def __init__(self, engine: BuildEngine, build: dict, scenario: str, seq: int):
        self.engine, self.build, self.scenario, self.seq = engine, build, scenario, seq
        self.name = build["metadata"]["name"]
        self.settings = engine.settings
        self.log = LogBuffer()
        self.wake = threading.Event()       # set on cancel, delete and engine stop
        labels = build["metadata"].get("labels") or {}
        try:
            self.user_params = json.loads((strategy_env(build, "USER_PARAMS") or {})
                                          .get("value") or "{}")
        except ValueError:
            self.user_params = {}
        self.source_build = self.user_params.get("kind") == "source_containers_user_params"
        self.platforms = [] if self.source_build else list(
            self.user_params.get("platforms") or ["x86_64"])
        self.scratch = labels.get("scratch") == "true" or bool(self.user_params.get("scratch"))
        self.isolated = labels.get("isolated") == "true" or bool(self.user_params.get("isolated"))
        self.reactor_config = engine.reactor_config_for(build)
        self.thread = threading.Thread(target=engine._drive, args=(self,), daemon=True,
                                       name=f"sim-build-{self.name}")

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float, scaled: bool = True) -> None:
        if self.wake.wait(seconds * (self.engine.time_scale if scaled else 1.0)):
            raise BuildCancelled(self.name)

    def wait_cancelled(self) -> None:
        self.wake.wait()
        raise BuildCancelled(self.name)

    def emit(self, line: str) -> None:
        self.log.append(line.encode() + b"\n")

    def emit_lazy(self, total: int, generate: Callable[[int, int], bytes]
                  ) -> Callable[[int], None]:
        return self.log.append_lazy(total, generate)

    def set_metadata(self, annotations: dict[str, str], labels: dict[str, str]) -> None:
        def merge(build: dict) -> None:
            meta = build["metadata"]
            meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
            if labels:
                meta["labels"] = {**(meta.get("labels") or {}), **labels}
        self.engine._transition(self, merge)

    def check_and_set_rebuild(self) -> bool:
        """atomic-reactor's check_and_set_rebuild: True for a build the ImageChange trigger
        made after an earlier build; otherwise label the BuildConfig ``is_autorebuild=true``,
        so the next build the trigger makes from it is one (direct builds: False)."""
        labels = self.build["metadata"].get("labels") or {}
        config = labels.get("buildconfig")
        if labels.get("is_autorebuild") == "true" or not config:
            return labels.get("is_autorebuild") == "true"

        def mark(bc: dict) -> Optional[bool]:
            bc_labels = bc["metadata"].setdefault("labels", {})
            if bc_labels.get("is_autorebuild") == "true":
                return False
            bc_labels["is_autorebuild"] = "true"
            return None
        with self.engine.store.lock:
            if self.engine.store.exists("buildconfigs", config):
                self.engine.store.update("buildconfigs", config, mark)
        return False

    def mark_unschedulable(self, message: str) -> None:
        self.engine.update_pod(self.name, lambda pod: pod_unschedulable(pod, message))

    def cancel_by_cluster(self) -> None:
        self.engine.cancel(self.name)
        raise BuildCancelled(self.name)


class BuildEngine:
    """Admits Builds, plays their scenarios and applies cancels."""

    def __init__(self, store: ObjectStore, settings: ScenarioSettings,
                 select: Callable[[dict], str], time_scale: float = 1.0,
                 state_dir: Optional[Path] = None):
        self.store, self.settings, self.select = store, settings, select
        self.time_scale, self.state_dir = time_scale, state_dir
        self.runs: dict[str, BuildRun] = {}
        self.stopped = threading.Event()
        self._seq = 0

    def admit(self, obj: dict, config: Optional[dict] = None) -> dict:
        """Default a posted Build, store it as New and start playing its scenario."""
        spec = obj.setdefault("spec", {})
        for key, default in (("serviceAccount", "builder"), ("nodeSelector", None),
                             ("postCommit", {}), ("resources", {}), ("triggeredBy", None)):
            spec.setdefault(key, default)
        status: dict[str, Any] = {"phase": "New", "output": {}}
        if config:
            status["config"] = {"kind": "BuildConfig", "name": config["metadata"]["name"],
                                "namespace": self.store.namespace}
        obj["status"] = status
        with self.store.lock:
            created = self.store.create("builds", obj)
            self._seq += 1
            run = BuildRun(self, created, self.select(copy.deepcopy(created)), self._seq)
            self.runs[run.name] = run
        run.thread.start()
        return created

    def cancel(self, name: str) -> dict:
        """Cancel as the cluster would (``oc cancel-build``)."""
        return self.store.update("builds", name, self.mark_cancelled)

    def mark_cancelled(self, build: dict) -> None:
        """Inside a store update: the phase flips at once, the run and its log stop after."""
        status = build["status"]
        status["cancelled"] = True
        if status["phase"] not in ACTIVE:
            return
        now = time.time()
        status.update(phase="Cancelled", reason="CancelledBuild",
                      message="The build was cancelled by the user.",
                      completionTimestamp=rfc3339(now))
        set_duration(status, now)
        name = build["metadata"]["name"]
        self.update_pod(name, pod_deleting)
        run = self.runs.get(name)
        if run:
            run.wake.set()
            run.log.close()

    def forget(self, name: str) -> None:
        """The Build was deleted: stop its run, delete its pod."""
        run = self.runs.get(name)
        if run:
            run.wake.set()
            run.log.close()
        try:
            self.store.delete("pods", f"{name}-build")
        except ApiError:
            pass

    def reactor_config_for(self, build: dict) -> dict:
        """The parsed ``config.yaml`` of the ConfigMap the build's REACTOR_CONFIG points at."""
        ref = ((strategy_env(build, "REACTOR_CONFIG") or {}).get("valueFrom") or {}) \
            .get("configMapKeyRef") or {}
        with self.store.lock:
            config_map = self.store.peek("configmaps", ref.get("name", "reactor-config-map"))
            text = ((config_map or {}).get("data") or {}).get(ref.get("key", "config.yaml"))
        try:
            data = yaml.safe_load(text) if text else {}
        except yaml.YAMLError:
            data = {}
        return data if isinstance(data, dict) else {}

    def update_pod(self, build_name: str, mutate: Callable[[dict], Any]) -> None:
        try:
            self.store.update("pods", f"{build_name}-build", mutate)
        except ApiError:
            pass

    def stop(self) -> None:
        self.stopped.set()
        with self.store.lock:
            runs = list(self.runs.values())
        for run in runs:
            run.wake.set()
            run.log.wake()
        for run in runs:
            if run.thread.is_alive():
                run.thread.join(timeout=5)

    # -- driving one build -------------------------------------------------------------------

    def _transition(self, run: BuildRun, mutate: Callable[[dict], Any]) -> None:
        """Change a build unless it already ended (a cancel may have won the race)."""
        with self.store.lock:
            if run.wake.is_set():
                raise BuildCancelled(run.name)

            def guarded(build: dict) -> Optional[bool]:
                if build["status"]["phase"] not in ACTIVE:
                    return False
                return mutate(build)
            self.store.update("builds", run.name, guarded)

    def _drive(self, run: BuildRun) -> None:
        scenario = SCENARIOS[run.scenario]
        try:
            self._wait_serial(run)
            run.sleep(self.settings.new_seconds)
            with self.store.lock:
                if run.wake.is_set():
                    raise BuildCancelled(run.name)
                self.store.create("pods", new_pod(self.store.get("builds", run.name)))
                self._transition(run, to_pending)
            scenario.schedule(run)
            with self.store.lock:
                if run.wake.is_set():
                    raise BuildCancelled(run.name)
                self.update_pod(run.name, lambda pod: pod_running(pod, f"docker://{run.seq:064x}"))
                self._transition(run, to_running)
            self._finish(run, scenario.run(run))
        except BuildCancelled:
            pass
        except Exception as exc:   # noqa: BLE001 - a broken scenario must not kill the server
            log.exception("scenario %s of build %s crashed", run.scenario, run.name)
            self._finish(run, Outcome("Error", "Error", f"sandbox scenario crashed: {exc}",
                                      exit_code=1, container_reason="Error"))
        finally:
            run.log.close()
            self._after_run(run)

    def _wait_serial(self, run: BuildRun) -> None:
        """Serial run policy: wait in New while an older build of the same config is active."""
        meta = run.build["metadata"]
        labels = meta.get("labels") or {}
        config = labels.get("openshift.io/build-config.name")
        if not config or labels.get("openshift.io/build.start-policy") == "Parallel":
            return
        number = int((meta.get("annotations") or {}).get("openshift.io/build.number", 0))
        selector = parse_label_selector(f"openshift.io/build-config.name={config}")

        def my_turn() -> bool:     # evaluated under the store lock
            for other in self.store.live("builds", selector):
                other_number = int((other["metadata"].get("annotations") or {})
                                   .get("openshift.io/build.number", 0))
                if other_number < number and other["status"]["phase"] in ACTIVE:
                    return False
            return True
        self.store.wait_until(my_turn, None, run.wake)
        if run.wake.is_set():
            raise BuildCancelled(run.name)

    def _finish(self, run: BuildRun, outcome: Outcome) -> None:
        with self.store.lock:
            if run.wake.is_set():
                return
            self.update_pod(run.name, lambda pod: pod_finished(pod, outcome))

            def end(build: dict) -> None:
                now = time.time()
                status = build["status"]
                status.update(phase=outcome.phase, completionTimestamp=rfc3339(now))
                set_duration(status, now)
                for key, value in (("reason", outcome.reason), ("message", outcome.message),
                                   ("logSnippet", outcome.log_snippet)):
                    if value:
                        status[key] = value
            self._transition(run, end)

    def _after_run(self, run: BuildRun) -> None:
        if self.stopped.is_set():
            return
        if self.state_dir:
            self._persist(run)
        with self.store.lock:
            build = self.store.peek("builds", run.name)
            cancelled = build is not None and build["status"]["phase"] == "Cancelled"
        # the build controller deleted the pod of a cancelled build; it goes after its grace period
        if cancelled and not self.stopped.wait(30 * self.time_scale):
            try:
                self.store.delete("pods", f"{run.name}-build")
            except ApiError:
                pass

    def _persist(self, run: BuildRun) -> None:
        folder = self.state_dir / "builds"   # type: ignore[operator]
        folder.mkdir(parents=True, exist_ok=True)
        try:
            build = self.store.get("builds", run.name)
        except ApiError:
            return
        (folder / f"{run.name}.json").write_text(json.dumps(build, indent=2))
        size, digest = run.log.digest()
        (folder / f"{run.name}.emitted.sha256").write_text(f"{size} {digest}\n")
        if size <= 16 << 20:
            (folder / f"{run.name}.emitted.log").write_bytes(
                b"".join(run.log.iter_chunks()))
