"""Acceptance check of the OpenShift client under faults, against the local simulator.

With faults on (10% 5xx answers, connection resets, watch streams dropped every 2 s, log
streams cut every 64 KiB), the client follows N builds in parallel to their final phases and
the logs it delivers must be byte-identical to what the simulator's scenarios emitted.

    .venv/bin/python bench/openshift_faults.py [--builds 20] [--seed 1] [--reset-rate 0.05]

Prints the figures (builds, right final phases, bytes compared, reconnects, wall time) and
exits non-zero when any build is wrong. ``tests/openshift/test_client_simulator.py`` runs
``run_check`` too.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from koji_containerbuild.openshift.client import TERMINAL_PHASES, OpenShiftClient  # noqa: E402
from koji_containerbuild.openshift.logstream import follow_build_log  # noqa: E402
from koji_containerbuild.openshift.watch import StreamStats, wait_for_build  # noqa: E402
from koji_containerbuild.sandbox.openshift.faults import Faults  # noqa: E402
from koji_containerbuild.sandbox.openshift.simulator import OpenShiftSimulator  # noqa: E402

FIXTURE = REPO / 'tests/fixtures/openshift-3.9.41/build_test-build-123.json'
TOKEN = 'bench-secret-token'

# scenario -> final phase; scenarios whose log stays readable once they end
EXPECTED_PHASE = {
    'success': 'Complete',
    'large-log': 'Complete',
    'plugin-failure': 'Failed',
    'pod-failure': 'Failed',
    'evicted': 'Failed',
    'deadline-exceeded': 'Failed',
}
MIX = ['success', 'large-log', 'plugin-failure', 'success', 'pod-failure', 'evicted',
       'large-log', 'deadline-exceeded']


def build_json(name: str, scenario: str, task_id: int) -> dict:
    """A scratch Build shaped like the fixture, whose git ref picks the simulator scenario."""
    build = json.loads(FIXTURE.read_text())
    build['metadata'] = {'name': name, 'labels': {
        **copy.deepcopy(build['metadata']['labels']), 'koji-task-id': str(task_id)},
        'annotations': copy.deepcopy(build['metadata']['annotations'])}
    build.pop('status', None)
    build['spec']['source']['git']['ref'] = f'scenario-{scenario}'
    return build


@dataclass
class BuildOutcome:
    name: str
    scenario: str
    phase: str = ''
    log: bytes = b''
    error: Optional[str] = None
    log_stats: StreamStats = field(default_factory=StreamStats)
    watch_stats: StreamStats = field(default_factory=StreamStats)


@dataclass
class Report:
    builds: int
    right_phases: int
    identical_logs: int
    bytes_compared: int
    log_reconnects: int
    watch_reconnects: int
    requests: int
    wall_seconds: float
    failures: list[str]

    def lines(self) -> list[str]:
        return [
            f'builds followed:         {self.builds}',
            f'final phases right:      {self.right_phases}/{self.builds}',
            f'logs byte-identical:     {self.identical_logs}/{self.builds}',
            f'bytes compared:          {self.bytes_compared}',
            f'log reconnects:          {self.log_reconnects}',
            f'watch reconnects:        {self.watch_reconnects}',
            f'API requests served:     {self.requests}',
            f'wall time:               {self.wall_seconds:.1f} s',
        ] + [f'FAILED: {text}' for text in self.failures]


def follow_one(client: OpenShiftClient, outcome: BuildOutcome, build: dict) -> None:
    """As the builder does: one thread watches for the end while this one follows the log."""
    def watch() -> None:
        try:
            final = wait_for_build(client, outcome.name, TERMINAL_PHASES,
                                   stats=outcome.watch_stats)
            outcome.phase = final['status']['phase']
        except Exception as exc:  # noqa: BLE001 - reported per build, the others go on
            outcome.error = f'watch: {type(exc).__name__}: {exc}'

    try:
        client.create_build(build)
    except Exception as exc:  # noqa: BLE001
        outcome.error = f'create: {type(exc).__name__}: {exc}'
        return
    watcher = threading.Thread(target=watch, name=f'watch-{outcome.name}')
    watcher.start()
    try:
        outcome.log = b''.join(follow_build_log(client, outcome.name,
                                                stats=outcome.log_stats))
    except Exception as exc:  # noqa: BLE001
        outcome.error = f'log: {type(exc).__name__}: {exc}'
    watcher.join()


def run_check(builds: int = 20, seed: int = 1, error_rate: float = 0.1,
              reset_rate: float = 0.05, watch_drop_seconds: float = 2.0,
              log_cut_bytes: int = 65536, large_log_bytes: int = 600_000,
              time_scale: float = 3.0) -> Report:
    """Run the check; ``time_scale`` 3 makes builds last ~5 s, so watches get dropped."""
    faults = Faults(seed=seed, error_rate=error_rate, reset_rate=reset_rate,
                    watch_drop_seconds=watch_drop_seconds, log_cut_bytes=log_cut_bytes)
    sim = OpenShiftSimulator(token=TOKEN, namespace='default', faults=faults,
                             time_scale=time_scale)
    sim.large_log_bytes = large_log_bytes
    sim.start()
    try:
        client = OpenShiftClient(sim.url, 'default', token=TOKEN, verify=True,
                                 backoff_factor=0.05, read_timeout=30)
        outcomes = [BuildOutcome(f'bench-{i:03d}', MIX[i % len(MIX)]) for i in range(builds)]
        started = time.monotonic()
        threads = [threading.Thread(target=follow_one,
                                    args=(client, o, build_json(o.name, o.scenario, 1000 + i)))
                   for i, o in enumerate(outcomes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        failures, right, identical, compared = [], 0, 0, 0
        for o in outcomes:
            if o.error:
                failures.append(f'{o.name} ({o.scenario}): {o.error}')
            expected_log = sim.emitted_log(o.name)
            compared += len(expected_log)
            if o.phase == EXPECTED_PHASE[o.scenario]:
                right += 1
            elif not o.error:
                failures.append(f'{o.name} ({o.scenario}): phase {o.phase}, '
                                f'expected {EXPECTED_PHASE[o.scenario]}')
            if o.log == expected_log:
                identical += 1
            elif not o.error:
                failures.append(f'{o.name} ({o.scenario}): log differs '
                                f'({len(o.log)} bytes delivered, {len(expected_log)} emitted)')
        requests = len(sim.requests)
        client.close()
    finally:
        sim.stop()
    return Report(builds, right, identical, compared,
                  sum(o.log_stats.reconnects for o in outcomes),
                  sum(o.watch_stats.reconnects for o in outcomes), requests, wall, failures)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--builds', type=int, default=20)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--error-rate', type=float, default=0.1)
    parser.add_argument('--reset-rate', type=float, default=0.05)
    parser.add_argument('--watch-drop-seconds', type=float, default=2.0)
    parser.add_argument('--log-cut-bytes', type=int, default=65536)
    parser.add_argument('--large-log-bytes', type=int, default=600_000)
    parser.add_argument('--time-scale', type=float, default=3.0)
    args = parser.parse_args(argv)
    report = run_check(args.builds, args.seed, args.error_rate, args.reset_rate,
                       args.watch_drop_seconds, args.log_cut_bytes, args.large_log_bytes,
                       args.time_scale)
    print('\n'.join(report.lines()))
    return 0 if not report.failures else 1


if __name__ == '__main__':
    sys.exit(main())
