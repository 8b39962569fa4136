"""Build scenarios the OpenShift simulator plays, and the atomic-reactor output they imitate.

A scenario drives one Build through a ``BuildContext`` (``scenario_api``, implemented by
``engine``): it emits log lines in atomic-reactor 3.6's orchestrator format, writes the
annotations/labels ``store_metadata_in_osv3`` writes (both imitated in ``reactor``) and returns
an ``Outcome`` that the engine turns into the final Build phase and pod state. Another engine
(e.g. a real buildah build) plugs in as one more ``Scenario`` subclass registered in
``SCENARIOS``."""

from __future__ import annotations

import json
import re
import time
from itertools import cycle, islice
from typing import Optional

from koji_containerbuild.sandbox.openshift.reactor import (
    ORCHESTRATE,
    WORKER_STEPS,
    Script,
    build_metadata,
    git_source,
    relayed_line,
    user_warning_message,
)
from koji_containerbuild.sandbox.openshift.scenario_api import (
    GENERIC_FAILED,
    BuildCancelled,
    BuildContext,
    Outcome,
)


class Scenario:
    """One way a build can go. ``schedule`` runs while Pending, ``run`` once Running."""

    name = ""

    def schedule(self, ctx: BuildContext) -> None:
        ctx.sleep(ctx.settings.pending_seconds)

    def run(self, ctx: BuildContext) -> Outcome:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# Scenarios


def _warnings(script: Script) -> None:
    ctx = script.ctx
    script.orch("atomic_reactor.plugins.check_and_set_rebuild", "USER_WARNING",
                user_warning_message("Dockerfile label 'io.k8s.description' is missing"))
    if not ctx.source_build and ctx.platforms:
        for platform in ctx.platforms:   # the same warning from every worker: KCB keeps it once
            script.worker(platform, "atomic_reactor.plugins.add_labels_in_dockerfile",
                          "USER_WARNING", user_warning_message("Base image uses a deprecated tag"))


def _finish_success(script: Script) -> Outcome:
    ctx = script.ctx
    if not ctx.source_build:
        for platform in ctx.platforms:
            script.orch(ORCHESTRATE, "INFO", f"worker build for {platform} finished: Complete")
    _warnings(script)
    script.exit_plugins(failed=False)
    annotations, labels = build_metadata(ctx, script, {})
    ctx.set_metadata(annotations, labels)
    script.orch("atomic_reactor.inner", "INFO", "build has finished successfully \\o/")
    return Outcome("Complete", container_reason="Completed")


class Success(Scenario):
    """Complete: every platform of USER_PARAMS ``platforms`` builds and pushes."""

    name = "success"

    def run(self, ctx: BuildContext) -> Outcome:
        script = Script(ctx)
        script.prebuild()
        if ctx.source_build:
            for step in ("fetch_sources", "source_container", "compress", "tag_and_push"):
                script.plugin(step)
                ctx.sleep(ctx.settings.step_seconds)
        else:
            script.workers(WORKER_STEPS)
        return _finish_success(script)


class PluginFailure(Scenario):
    """Failed: a worker plugin fails, so ``orchestrate_build`` records the error."""

    name = "plugin-failure"
    WORKER_ERROR = ("distgit_fetch_artefacts",
                    "Command '['rhpkg-env', 'sources']' returned non-zero exit status 22")

    def run(self, ctx: BuildContext) -> Outcome:
        script = Script(ctx)
        script.prebuild()
        script.workers(WORKER_STEPS[:3])
        plugin, error = self.WORKER_ERROR
        for platform in ctx.platforms:
            script.worker(platform, f"atomic_reactor.plugins.{plugin}", "ERROR", error)
        reason = json.dumps({p: {plugin: error} for p in ctx.platforms})
        script.orch("atomic_reactor.plugin", "ERROR",
                    f"buildstep plugin 'orchestrate_build' raised an exception: {reason}")
        script.line("Traceback (most recent call last):")
        script.line('  File "/usr/lib/python3.6/site-packages/atomic_reactor/plugin.py", '
                    'line 260, in run')
        script.line(f"atomic_reactor.plugin.PluginFailedException: {reason}")
        _warnings(script)
        script.exit_plugins(failed=True)
        annotations, labels = build_metadata(ctx, script, {"orchestrate_build": reason},
                                             {plugin: error})
        ctx.set_metadata(annotations, labels)
        script.orch("atomic_reactor.inner", "ERROR", f"build failed: {reason}")
        tail = "\n".join(script.tail)
        return Outcome("Failed", *GENERIC_FAILED, exit_code=1, container_reason="Error",
                       container_message=tail, log_snippet=tail)


class PodFailure(Scenario):
    """Failed with no annotations: atomic-reactor dies before its exit plugins run."""

    name = "pod-failure"

    def run(self, ctx: BuildContext) -> Outcome:
        script = Script(ctx)
        script.prebuild()
        script.workers(WORKER_STEPS[:2])
        script.line("Traceback (most recent call last):")
        script.line('  File "/usr/bin/atomic-reactor", line 11, in <module>')
        script.line("OSError: [Errno 28] No space left on device")
        tail = "\n".join(script.tail)
        return Outcome("Failed", *GENERIC_FAILED, exit_code=1, container_reason="Error",
                       container_message=tail, log_snippet=tail)


class StuckPending(Scenario):
    """Stays Pending forever: no node can take the pod."""

    name = "stuck-pending"
    MESSAGE = "0/3 nodes are available: 3 Insufficient memory."

    def schedule(self, ctx: BuildContext) -> None:
        ctx.mark_unschedulable(self.MESSAGE)
        ctx.wait_cancelled()

    def run(self, ctx: BuildContext) -> Outcome:  # pragma: no cover - never scheduled
        raise AssertionError("stuck-pending never runs")


class Evicted(Scenario):
    """Failed: the kubelet evicts the pod (node out of disk); no annotations."""

    name = "evicted"
    MESSAGE = ("The node was low on resource: ephemeral-storage. Container custom-build was "
               "using 10485760Ki, which exceeds its request of 0. ")

    def run(self, ctx: BuildContext) -> Outcome:
        script = Script(ctx)
        script.prebuild()
        script.workers(WORKER_STEPS[:4])
        return Outcome("Failed", "BuildPodEvicted", self.MESSAGE, container_statuses=False,
                       pod_reason="Evicted", pod_message=self.MESSAGE)


class DeadlineExceeded(Scenario):
    """Failed: the pod outlives ``completionDeadlineSeconds`` and is killed; no annotations."""

    name = "deadline-exceeded"
    MESSAGE = "Pod was active on the node longer than the specified deadline"

    def run(self, ctx: BuildContext) -> Outcome:
        script = Script(ctx)
        script.prebuild()
        script.workers(WORKER_STEPS[:5])
        ctx.sleep(ctx.settings.step_seconds * 3)
        return Outcome("Failed", "DeadlineExceeded", self.MESSAGE, exit_code=143,
                       container_reason="Error", pod_reason="DeadlineExceeded",
                       pod_message=self.MESSAGE)


class CancelledByCluster(Scenario):
    """Cancelled while Running by someone else (an admin's ``oc cancel-build``)."""

    name = "cancelled-by-cluster"

    def run(self, ctx: BuildContext) -> Outcome:
        script = Script(ctx)
        script.prebuild()
        script.workers(WORKER_STEPS[:3])
        script.orch("atomic_reactor.inner", "INFO", "build cancelled, cancelling worker builds")
        ctx.cancel_by_cluster()
        raise BuildCancelled(ctx.name)


class Silent(Scenario):
    """Running, emits nothing until cancelled (scale benchmarks)."""

    name = "silent"

    def run(self, ctx: BuildContext) -> Outcome:
        ctx.wait_cancelled()
        raise BuildCancelled(ctx.name)


class LargeLog(Scenario):
    """Complete, after relaying ``large_log_bytes`` of worker output, generated lazily."""

    name = "large-log"

    def run(self, ctx: BuildContext) -> Outcome:
        script = Script(ctx)
        script.prebuild()
        script.plugin("orchestrate_build")
        platforms = ctx.platforms or ["x86_64"]
        prefixes = [relayed_line(ctx.now(), p, "atomic_reactor.plugins.imagebuilder", "INFO",
                                 "large-log line ").encode() for p in platforms]
        width = max(len(p) for p in prefixes) + 32     # every line has this exact length
        # line i: its platform's prefix, i in 12 digits, dots up to the width; a block of
        # lines is one `%` of their templates (the stand-in must not be what a throughput
        # figure measures)
        templates = [p.replace(b"%", b"%%") + b"%012d " + b"." * (width - len(p) - 14) + b"\n"
                     for p in prefixes]

        def generate(offset: int, length: int) -> bytes:
            first, skip = divmod(offset, width)
            count = (skip + length + width - 1) // width
            template = b"".join(islice(cycle(templates), first % len(templates),
                                       first % len(templates) + count))
            return (template % tuple(range(first, first + count)))[skip:skip + length]

        total = max(1, ctx.settings.large_log_bytes // width) * width
        reveal = ctx.emit_lazy(total, generate)
        step = max(width, ctx.settings.large_log_step_bytes)
        for _ in range(0, total, step):
            reveal(step)
            ctx.sleep(ctx.settings.step_seconds)
        return _finish_success(script)


class SlowLog(Scenario):
    """Complete, after ``slow_log_lines`` lines at ``slow_log_rate`` lines per real second.

    Each line carries ``monotonic=<time.monotonic()>`` at emission (CLOCK_MONOTONIC is
    system-wide on Linux, so another process on the host can measure delivery latency).
    """

    name = "slow-log"

    def run(self, ctx: BuildContext) -> Outcome:
        script = Script(ctx)
        settings = ctx.settings
        platform = (ctx.platforms or ["x86_64"])[0]
        interval = 1.0 / settings.slow_log_rate if settings.slow_log_rate > 0 else 0.0
        start = time.monotonic()
        for index in range(settings.slow_log_lines):
            due = start + index * interval
            delay = due - time.monotonic()
            if delay > 0:
                ctx.sleep(delay, scaled=False)
            script.worker(platform, "atomic_reactor.plugins.imagebuilder", "INFO",
                          f"slow-log line {index + 1}/{settings.slow_log_lines} "
                          f"monotonic={time.monotonic():.6f}")
        return _finish_success(script)


class HostileLog(Scenario):
    """Complete, after output a build could print to hurt its task (issue 13): lines full of
    USER_WARNING marks, 400 platform names, the task's own file names as platforms, warnings
    XML-RPC cannot carry as they are, and a worker line of ``hostile_line_bytes``."""

    name = "hostile-log"
    RESERVED = ("osbs-client", "checkout-for-labels", "orchestrator", "user_warnings",
                "openshift-incremental", "metadata")
    UNSENDABLE = ("lone \\ud800 surrogate", "nul \\u0000 byte", "escape \\u001b[31m")

    def run(self, ctx: BuildContext) -> Outcome:
        script = Script(ctx)
        script.prebuild()
        script.plugin("orchestrate_build")
        size = ctx.settings.hostile_line_bytes
        marks = " - USER_WARNING - {" * max(1, min(size, 1_000_000) // 20)
        script.orch("atomic_reactor.x", "INFO", "marks" + marks + "no closing brace")
        script.orch("atomic_reactor.x", "INFO",   # the last mark opens the JSON object
                    "marks" + marks + '"message": "a warning after many marks"}')
        for index in range(400):
            script.worker(f"hostile{index:03d}", "atomic_reactor.x", "INFO", f"platform {index}")
        for name in self.RESERVED:
            script.worker(name, "atomic_reactor.x", "INFO", f"writing into {name}.log")
        for text in self.UNSENDABLE:   # JSON escapes: the message holds the raw character
            script.orch("atomic_reactor.x", "USER_WARNING", '{"message": "' + text + '"}')
        platform = (ctx.platforms or ["x86_64"])[0]
        script.worker(platform, "atomic_reactor.x", "INFO",
                      "long: " + "grüße 🚀 ✓ " * max(1, size // 20) + "end of the long line")
        return _finish_success(script)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Success(), PluginFailure(), PodFailure(), StuckPending(), Evicted(), DeadlineExceeded(),
    CancelledByCluster(), Silent(), LargeLog(), SlowLog(), HostileLog())}

_SCENARIO_TAG = re.compile(r"scenario-([a-z0-9][a-z0-9-]*)")


def scenario_from_source(build: dict) -> Optional[str]:
    """A registered name found as ``scenario-<name>`` in the git ref or a path part of the URI."""
    git = git_source(build)
    candidates = [str(git.get("ref") or "")]
    candidates += [part.removesuffix(".git") for part in str(git.get("uri") or "").split("/")]
    for text in candidates:
        for match in _SCENARIO_TAG.finditer(text):
            if match.group(1) in SCENARIOS:
                return match.group(1)
    return None
