"""The client against the OpenShift simulator over real HTTP: builds, watch, logs, cancel,
BuildConfigs, and every fault knob (logs must arrive byte-identical)."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from pathlib import Path

import pytest

from koji_containerbuild.openshift.client import TERMINAL_PHASES, OpenShiftClient
from koji_containerbuild.openshift.errors import (
    ConnectionFailed,
    Forbidden,
    NotFound,
    Unauthorized,
)
from koji_containerbuild.openshift.logstream import follow_build_log
from koji_containerbuild.openshift.watch import StreamStats, wait_for_build
from koji_containerbuild.sandbox.openshift.faults import Faults
from koji_containerbuild.sandbox.openshift.simulator import OpenShiftSimulator

TOKEN = 'sim-secret-token'
BENCH = Path(__file__).resolve().parents[2] / 'bench' / 'openshift_faults.py'


def _bench():
    spec = importlib.util.spec_from_file_location('openshift_faults_bench', BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _bench()


@pytest.fixture
def sim():
    simulator = OpenShiftSimulator(token=TOKEN, namespace='default', time_scale=0.05)
    simulator.large_log_bytes = 200_000
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def client(sim):
    with OpenShiftClient(sim.url, 'default', token=TOKEN, backoff_factor=0.02,
                         read_timeout=20) as the_client:
        yield the_client


def follow(client, name, scenario, task_id=1, **follow_kwargs):
    """Create a build, follow its log, wait for its end: (final build, log, log stats)."""
    client.create_build(bench.build_json(name, scenario, task_id))
    stats = StreamStats()
    log = b''.join(follow_build_log(client, name, stats=stats, **follow_kwargs))
    return wait_for_build(client, name, TERMINAL_PHASES), log, stats


@pytest.mark.parametrize('scenario', sorted(bench.EXPECTED_PHASE))
def test_builds_end_in_their_phase_with_the_emitted_log(sim, client, scenario):
    build, log, _ = follow(client, 'b1', scenario)
    assert build['status']['phase'] == bench.EXPECTED_PHASE[scenario]
    assert log == sim.emitted_log('b1')
    assert len(log) > 1000


def test_watch_reports_each_phase_on_the_way(sim, client):
    client.create_build(bench.build_json('b1', 'success', 1))
    phases = []
    wait_for_build(client, 'b1', {'Complete'},
                   on_update=lambda b: phases.append(b['status']['phase']))
    assert phases[-1] == 'Complete'
    assert 'Running' in phases
    assert phases.index('Running') > 0  # New/Pending were seen first


def test_cancel_a_running_build_within_a_second(sim, client):
    client.create_build(bench.build_json('b1', 'silent', 1))
    wait_for_build(client, 'b1', {'Running'})
    started = time.monotonic()
    client.cancel_build('b1')
    assert time.monotonic() - started < 1.0
    assert wait_for_build(client, 'b1', TERMINAL_PHASES, deadline=10)['status']['phase'] == \
        'Cancelled'
    assert client.cancel_build('b1')['status']['phase'] == 'Cancelled'  # left alone


def test_cancel_under_api_faults_still_cancels_promptly(sim, client):
    for i in range(4):
        client.create_build(bench.build_json(f'b{i}', 'silent', i))
    for i in range(4):
        wait_for_build(client, f'b{i}', {'Running'})
    sim.faults = Faults(seed=11, error_rate=0.3, error_after_commit=1.0, reset_rate=0.1)
    for i in range(4):
        started = time.monotonic()
        client.cancel_build(f'b{i}')
        assert time.monotonic() - started < 1.0
        assert sim.get_build(f'b{i}')['status']['phase'] == 'Cancelled'


def test_cancel_a_build_stuck_pending(sim, client):
    client.create_build(bench.build_json('b1', 'stuck-pending', 1))
    wait_for_build(client, 'b1', {'Pending'})
    client.cancel_build('b1')
    assert sim.get_build('b1')['status']['phase'] == 'Cancelled'


def test_cancel_event_stops_a_log_follow_promptly(sim, client):
    client.create_build(bench.build_json('b1', 'silent', 1))
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Exception, match='cancelled by the caller'):
        b''.join(follow_build_log(client, 'b1', cancel=cancel))
    assert time.monotonic() - started < 2.0


def test_api_errors_are_typed(sim, client):
    with pytest.raises(NotFound, match='not found'):
        client.get_build('missing')
    bad = OpenShiftClient(sim.url, 'default', token='wrong-token', retries=0)
    with pytest.raises(Unauthorized) as info:
        bad.get_build('b1')
    assert 'wrong-token' not in str(info.value)
    sim.forbidden.add(('create', 'builds'))
    with pytest.raises(Forbidden, match='cannot create'):
        client.create_build(bench.build_json('b1', 'success', 1))


def test_reactor_config_map_and_buildroot_image_stream_tag(sim, client):
    assert client.get_config_map('reactor-config-map')['source_registry']['url'] == \
        'registry.sandbox.local'
    assert client.resolve_image_stream_tag('buildroot:latest').startswith(
        'registry.sandbox.local/sandbox/buildroot@sha256:')


def test_build_config_flow(sim, client):
    bc = bench.build_json('hello-master-abcde', 'success', 7)
    bc['kind'] = 'BuildConfig'
    bc['metadata']['labels']['koji-task-id'] = '7'
    labels = bc['metadata']['labels']
    args = (labels['git-repo-name'], labels['git-branch'], labels['git-full-repo'],
            bc['spec']['source']['git']['uri'], 'hello-master-abcde')
    assert client.find_build_config(*args) is None
    client.create_build_config(bc)
    existing = client.find_build_config(*args)
    assert existing['metadata']['name'] == 'hello-master-abcde'
    bc['metadata']['labels']['koji-task-id'] = '8'
    updated = client.update_build_config(existing, bc)
    assert updated['metadata']['labels']['koji-task-id'] == '8'
    build = client.instantiate_build_config('hello-master-abcde')
    assert build['metadata']['name'] == 'hello-master-abcde-1'
    log = b''.join(follow_build_log(client, 'hello-master-abcde-1'))
    assert log == sim.emitted_log('hello-master-abcde-1')


def follow_three(sim, client, **follow_kwargs):
    outcomes = [follow(client, f'b{i}', scenario, i, **follow_kwargs)
                for i, scenario in enumerate(['success', 'large-log', 'plugin-failure'])]
    for i, (build, log, _) in enumerate(outcomes):
        assert build['status']['phase'] == ['Complete', 'Complete', 'Failed'][i]
        assert log == sim.emitted_log(f'b{i}')
    return outcomes


@pytest.mark.parametrize('knob', [
    {'error_rate': 0.3},
    {'error_rate': 0.3, 'error_after_commit': 1.0},
    {'reset_rate': 0.2},
    {'watch_drop_seconds': 0.2},
    {'slow_seconds': 0.02},
])
def test_each_fault_knob_leaves_results_exact(sim, client, knob):
    sim.faults = Faults(seed=3, **knob)
    follow_three(sim, client)


def test_log_cuts_resume_exactly(sim, client):
    sim.faults = Faults(seed=3, log_cut_bytes=20_000)
    outcomes = follow_three(sim, client)
    assert outcomes[1][2].reconnects >= 200_000 // 20_000 - 1


def test_cuts_that_count_resent_bytes_are_reported_not_looped_on(sim, client):
    # A cut after N bytes of each connection, while every connection re-sends from byte 0:
    # nothing can get past byte N, and the error says so.
    sim.faults = Faults(seed=3, log_cut_bytes=20_000, log_cut_counts_resent=True)
    client.create_build(bench.build_json('b1', 'large-log', 1))
    delivered = bytearray()
    with pytest.raises(ConnectionFailed, match='before the re-sent log got past byte 20000'):
        for chunk in follow_build_log(client, 'b1', max_failures=2):
            delivered += chunk
    assert bytes(delivered) == sim.emitted_log('b1')[:20_000]


def test_a_create_committed_before_its_5xx_is_not_doubled(sim, client):
    sim.faults = Faults(seed=5, error_rate=0.5, error_after_commit=1.0)
    for i in range(6):
        created = client.create_build(bench.build_json(f'b{i}', 'success', i))
        assert created['metadata']['name'] == f'b{i}'
    posts = [path for method, path in sim.requests if method == 'POST']
    assert len(posts) > 6  # some creates were retried...
    assert len(sim.list_builds()) == 6  # ...and none made a second build


def test_acceptance_twenty_builds_under_all_faults():
    """Done-when of the issue: 10% 5xx, resets, watch drops every 2 s, log cuts every 64 KiB;
    about 6 s (``bench/openshift_faults.py`` prints the same figures)."""
    report = bench.run_check(builds=20)
    print('\n'.join(report.lines()))
    assert report.failures == []
    assert report.right_phases == report.identical_logs == 20
    assert report.log_reconnects > 20
