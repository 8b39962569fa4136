"""What a build scenario and the engine that plays it share: the ``BuildContext`` a scenario
drives, the ``Outcome`` it returns, its settings and its cancellation. Scenarios
(``scenarios``, ``buildah_run``), the atomic-reactor imitation (``reactor``) and the engine
(``engine``) all import it; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol

GENERIC_FAILED = ("GenericBuildFailed", "Generic Build failure - check logs for details.")


class BuildCancelled(Exception):
    """Raised inside a scenario once its build was cancelled (by a user or the cluster)."""


@dataclass
class ScenarioSettings:
    """Knobs shared by all scenarios; delays are multiplied by the simulator's time_scale."""

    new_seconds: float = 0.2          # New -> Pending
    pending_seconds: float = 0.5      # Pending -> Running
    step_seconds: float = 0.1         # pause between groups of log lines
    large_log_bytes: int = 300_000_000
    large_log_step_bytes: int = 8 << 20
    slow_log_lines: int = 100
    slow_log_rate: float = 10.0       # lines per real second (not scaled)
    registry: str = "registry.sandbox.local"
    # Koji's work directory, where atomic-reactor uploads a scratch build's metadata.json
    # (the sandbox hub's state_dir/work); None: the file is only named in the log.
    koji_work_dir: Optional[str] = None


@dataclass
class Outcome:
    """How the build pod ended; the engine derives the Build status and pod state from it."""

    phase: str                                   # Complete | Failed | Error
    reason: Optional[str] = None                 # Build status.reason
    message: Optional[str] = None                # Build status.message
    exit_code: int = 0                           # custom-build container exit code
    container_reason: Optional[str] = None       # terminated.reason (Completed/Error/OOMKilled)
    container_message: Optional[str] = None      # terminated.message (log tail, as
                                                 # terminationMessagePolicy FallbackToLogsOnError)
    pod_reason: Optional[str] = None             # pod status.reason (Evicted, DeadlineExceeded)
    pod_message: Optional[str] = None
    container_statuses: bool = True              # an evicted pod reports none
    log_snippet: Optional[str] = None            # Build status.logSnippet (failed builds)


class BuildContext(Protocol):
    """What the engine offers a scenario for one build."""

    name: str
    build: dict                 # the Build as created
    seq: int                    # unique number of this build in the simulator
    user_params: dict           # parsed USER_PARAMS (empty when absent)
    platforms: list[str]
    scratch: bool
    isolated: bool
    source_build: bool
    reactor_config: dict        # parsed config.yaml of the build's REACTOR_CONFIG ConfigMap
    settings: ScenarioSettings

    def now(self) -> float: ...
    def sleep(self, seconds: float, scaled: bool = True) -> None: ...   # raises BuildCancelled
    def wait_cancelled(self) -> None: ...                               # raises BuildCancelled
    def emit(self, line: str) -> None: ...
    def emit_lazy(self, total: int, generate: Callable[[int, int], bytes]
                  ) -> Callable[[int], None]: ...
    def set_metadata(self, annotations: dict[str, str], labels: dict[str, str]) -> None: ...
    def check_and_set_rebuild(self) -> bool: ...                        # atomic-reactor's
    def mark_unschedulable(self, message: str) -> None: ...
    def cancel_by_cluster(self) -> None: ...                            # raises BuildCancelled
