"""OpenShiftClient against ``responses``: URLs, verbs, bodies, errors, retries, auth."""

from __future__ import annotations

import json
import logging
import socket

import pytest
import responses

from koji_containerbuild.config import OsbsInstance
from koji_containerbuild.openshift.client import OpenShiftClient
from koji_containerbuild.openshift.errors import (
    AlreadyExists,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    OpenShiftError,
    OpenShiftTimeout,
    ServerError,
    Unauthorized,
)
from koji_containerbuild.openshift.http import BACKOFF_MAX, RETRY_AFTER_MAX
from tests.openshift.test_client_support import (
    BASE,
    BUILDS,
    CONFIGMAPS,
    FIXTURES,
    ISTAGS,
    NS,
    PODS,
    TOKEN,
    FakeClock,
    LoopbackServer,
    build_in_phase,
    cut_body,
    fixture,
    free_port,
    make_client,
    status_body,
)


@pytest.fixture(autouse=True)
def _no_ca_bundle_from_the_environment(monkeypatch):
    for name in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
        monkeypatch.delenv(name, raising=False)


@responses.activate
def test_get_build_sends_bearer_token_to_the_group_api_path():
    responses.get(f'{BUILDS}/test-build-123', json=fixture('build_test-build-123.json'))
    build = make_client().get_build('test-build-123')
    assert build['metadata']['name'] == 'test-build-123'
    request = responses.calls[0].request
    assert request.method == 'GET'
    assert request.url == f'{BUILDS}/test-build-123'
    assert request.headers['Authorization'] == f'Bearer {TOKEN}'
    assert request.req_kwargs['verify'] is True  # TLS verification on by default


@responses.activate
def test_list_builds_encodes_label_and_field_selectors_like_osbs_client():
    responses.get(BUILDS, json=fixture('builds_list.json'))
    items = make_client().list_builds(
        labels={'git-repo-name': 'r', 'isolated': 'true'},
        field_selector='status!=Failed,status!=Complete')
    assert [i['metadata']['name'] for i in items] == [
        'codeready-workspaces-codeready-10-rhel-7-3857d-1',
        'e2e-container-test-prod-release-e2e-test-10-rhe-d9e6f-1874']
    assert responses.calls[0].request.url == (
        f'{BUILDS}?labelSelector=git-repo-name%3Dr%2Cisolated%3Dtrue'
        '&fieldSelector=status%21%3DFailed%2Cstatus%21%3DComplete')


@responses.activate
def test_list_builds_of_an_empty_namespace_is_an_empty_list():
    responses.get(BUILDS, json=fixture('builds_list_empty.json'))
    assert make_client().list_builds({'koji-task-id': '1'}) == []


@responses.activate
def test_create_build_posts_the_build_json():
    build = build_in_phase('New')
    responses.post(BUILDS, json=build, status=201)
    assert make_client().create_build(build)['metadata']['name'] == 'test-build-123'
    request = responses.calls[0].request
    assert request.method == 'POST'
    assert request.headers['Content-Type'] == 'application/json'
    assert json.loads(request.body) == build


@responses.activate
def test_retried_create_meeting_409_returns_the_build_its_first_attempt_made():
    build = build_in_phase('New')
    build['metadata']['labels'] = {}  # nothing to recognise it by: only the retry tells
    responses.post(BUILDS, json=status_body(503, 'ServiceUnavailable', 'etcd busy'), status=503)
    responses.post(BUILDS, json=status_body(409, 'AlreadyExists',
                                            'builds "test-build-123" already exists'),
                   status=409)
    responses.get(f'{BUILDS}/test-build-123', json=build_in_phase('Pending'))
    clock = FakeClock()
    result = make_client(clock).create_build(build)
    assert result['status']['phase'] == 'Pending'
    assert [c.request.method for c in responses.calls] == ['POST', 'POST', 'GET']
    assert clock.sleeps == [0.5]


@responses.activate
def test_first_create_meeting_someone_elses_build_of_that_name_fails():
    mine = build_in_phase('New')
    mine['metadata']['labels'] = {'koji-task-id': '1'}
    theirs = build_in_phase('Running')
    theirs['metadata']['labels'] = {'koji-task-id': '2'}
    responses.post(BUILDS, json=status_body(409, 'AlreadyExists', 'already exists'), status=409)
    responses.get(f'{BUILDS}/test-build-123', json=theirs)
    with pytest.raises(AlreadyExists) as info:
        make_client().create_build(mine)
    assert 'already exists' in str(info.value)


@responses.activate
def test_create_meeting_a_build_with_all_our_labels_reattaches():
    mine = build_in_phase('New')
    mine['metadata']['labels'] = {'koji-task-id': '1', 'scratch': 'true'}
    existing = build_in_phase('Running')
    existing['metadata']['labels'] = {'koji-task-id': '1', 'scratch': 'true', 'extra': 'x'}
    responses.post(BUILDS, json=status_body(409, 'AlreadyExists', 'already exists'), status=409)
    responses.get(f'{BUILDS}/test-build-123', json=existing)
    assert make_client().create_build(mine)['status']['phase'] == 'Running'


@pytest.mark.parametrize(('status', 'reason', 'error_class'), [
    (401, 'Unauthorized', Unauthorized),
    (403, 'Forbidden', Forbidden),
    (404, 'NotFound', NotFound),
    (409, 'Conflict', Conflict),
    (422, 'Invalid', OpenShiftError),
    (500, 'InternalError', ServerError),
])
@responses.activate
def test_errors_are_typed_and_carry_the_status_message(status, reason, error_class):
    message = f'builds.build.openshift.io "x" is {reason.lower()}\nsecond line'
    responses.get(f'{BUILDS}/x', json=status_body(status, reason, message), status=status)
    with pytest.raises(error_class) as info:
        make_client(retries=0).get_build('x')
    error = info.value
    assert type(error) is error_class
    assert (error.status_code, error.reason) == (status, reason)
    assert error.message == f'builds.build.openshift.io "x" is {reason.lower()} second line'
    text = str(error)
    assert '\n' not in text
    assert text.startswith(f'GET /apis/build.openshift.io/v1/namespaces/{NS}/builds/x: '
                           f'HTTP {status} {reason}: ')


@responses.activate
def test_error_without_status_json_uses_the_body_text():
    responses.get(f'{BUILDS}/x', body='<html>bad gateway</html>', status=400)
    with pytest.raises(OpenShiftError) as info:
        make_client().get_build('x')
    assert info.value.status_code == 400
    assert info.value.reason is None
    assert 'bad gateway' in str(info.value)


def scripted_server(answers: list, seen: list) -> LoopbackServer:
    """Answers requests in order with (status, json, headers); the last one repeats."""
    def handle(handler):
        seen.append((handler.command, handler.path))
        status, obj, headers = answers[min(len(seen), len(answers)) - 1]
        body = json.dumps(obj).encode()
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header('Content-Length', str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return LoopbackServer(handle)


BUSY = (503, status_body(503, 'ServiceUnavailable', 'etcd busy'), {})


def test_503_is_retried_with_backoff_through_the_injected_sleep():
    seen: list = []
    with scripted_server([BUSY, BUSY, (200, build_in_phase('Running', 'b'), {})], seen) as srv:
        clock = FakeClock()
        client = OpenShiftClient(srv.url, NS, retries=3, backoff_factor=0.5,
                                 sleep=clock.sleep, clock=clock)
        assert client.get_build('b')['status']['phase'] == 'Running'
    assert len(seen) == 3
    assert clock.sleeps == [1.0]  # urllib3: no wait before the first retry, then factor * 2


def test_retries_are_bounded_and_end_in_a_server_error_with_its_message():
    seen: list = []
    with scripted_server([BUSY], seen) as srv:
        clock = FakeClock()
        client = OpenShiftClient(srv.url, NS, retries=2, sleep=clock.sleep, clock=clock)
        with pytest.raises(ServerError) as info:
            client.get_build('b')
    assert len(seen) == 3
    assert 'etcd busy' in str(info.value)


def test_retry_after_is_respected():
    seen: list = []
    slow_down = (429, status_body(429, 'TooManyRequests', 'slow down'), {'Retry-After': '3'})
    with scripted_server([slow_down, (200, build_in_phase('Running', 'b'), {})], seen) as srv:
        clock = FakeClock()
        OpenShiftClient(srv.url, NS, sleep=clock.sleep, clock=clock).get_build('b')
    assert clock.sleeps == [3]


def test_a_long_retry_after_is_waited_only_up_to_the_cap():
    # urllib3 < 2.7 has no retry_after_max: the cap must hold on 1.26 (RHEL 9, Debian 12) too
    slow_down = (429, status_body(429, 'TooManyRequests', 'slow down'), {'Retry-After': '3600'})
    with scripted_server([slow_down, (200, build_in_phase('Running', 'b'), {})], []) as srv:
        clock = FakeClock()
        OpenShiftClient(srv.url, NS, sleep=clock.sleep, clock=clock).get_build('b')
    assert clock.sleeps == [RETRY_AFTER_MAX]


def test_backoff_between_retries_is_capped():
    # urllib3 < 2.0 has no backoff_max (its own cap is 120 s): ours is 60 s on every release
    with scripted_server([BUSY, BUSY, BUSY, (200, build_in_phase('Running', 'b'), {})],
                         []) as srv:
        clock = FakeClock()
        client = OpenShiftClient(srv.url, NS, retries=3, backoff_factor=50,
                                 sleep=clock.sleep, clock=clock)
        assert client.get_build('b')['status']['phase'] == 'Running'
    assert clock.sleeps == [BACKOFF_MAX, BACKOFF_MAX]  # 100 s and 200 s, both capped


def test_create_is_not_retried_by_urllib3_but_explicitly_once_per_failure():
    seen: list = []
    build = build_in_phase('New', 'b')
    with scripted_server([BUSY, (201, build, {})], seen) as srv:
        clock = FakeClock()
        client = OpenShiftClient(srv.url, NS, retries=3, backoff_factor=0.5,
                                 sleep=clock.sleep, clock=clock)
        assert client.create_build(build)['metadata']['name'] == 'b'
    assert [method for method, _ in seen] == ['POST', 'POST']
    assert clock.sleeps == [0.5]


@responses.activate
def test_a_get_whose_answer_is_cut_mid_body_is_retried():
    body = json.dumps(build_in_phase('Running', 'b')).encode()
    responses.get(f'{BUILDS}/b', body=cut_body(body, 100))
    responses.get(f'{BUILDS}/b', body=body)
    assert make_client().get_build('b')['status']['phase'] == 'Running'
    assert len(responses.calls) == 2


def test_unreachable_api_is_a_connection_failure_naming_the_request():
    client = OpenShiftClient(f'http://127.0.0.1:{free_port()}/', NS, token=TOKEN, retries=1,
                             sleep=lambda s: None)
    with pytest.raises(ConnectionFailed) as info:
        client.get_build('b')
    assert str(info.value).startswith(f'GET /apis/build.openshift.io/v1/namespaces/{NS}/'
                                      'builds/b: connection failed')


def test_a_silent_api_is_a_timeout():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)  # accepts the connection, never answers
        client = OpenShiftClient(f'http://127.0.0.1:{listener.getsockname()[1]}/', NS,
                                 read_timeout=0.2, retries=0)
        with pytest.raises(OpenShiftTimeout):
            client.get_build('b')


@responses.activate
def test_token_never_appears_in_repr_logs_or_errors(caplog):
    caplog.set_level(logging.DEBUG)
    responses.get(f'{BUILDS}/b', json=status_body(403, 'Forbidden', 'no edit role'), status=403)
    client = make_client()
    with pytest.raises(Forbidden) as info:
        client.get_build('b')
    seen = [repr(client), str(client), str(info.value), repr(info.value), caplog.text,
            repr(client._session.auth), repr(vars(client))]
    assert responses.calls[0].request.headers['Authorization'] == f'Bearer {TOKEN}'
    assert not [text for text in seen if TOKEN in text]
    assert 'auth=token' in repr(client)


@responses.activate
def test_base_url_path_is_ignored_like_osbs_client_urljoin():
    responses.get(f'{BUILDS}/b', json=build_in_phase('Running', 'b'))
    OpenShiftClient(BASE + 'some/prefix/', NS).get_build('b')
    assert responses.calls[0].request.url == f'{BUILDS}/b'
    assert 'Authorization' not in responses.calls[0].request.headers


@responses.activate
def test_from_instance_uses_token_tls_and_client_certificate(tmp_path):
    instance = OsbsInstance(conf_file='/etc/osbs.conf', section='default', build_json_dir='/x',
                            openshift_url=BASE, namespace=NS, token=TOKEN,
                            ca_bundle='/etc/pki/ca.pem', client_cert='/c.pem',
                            client_key='/k.pem')
    responses.get(f'{BUILDS}/b', json=build_in_phase('Running', 'b'))
    OpenShiftClient.from_instance(instance).get_build('b')
    request = responses.calls[0].request
    assert request.headers['Authorization'] == f'Bearer {TOKEN}'
    assert request.req_kwargs['verify'] == '/etc/pki/ca.pem'
    assert request.req_kwargs['cert'] == ('/c.pem', '/k.pem')


@responses.activate
def test_from_instance_without_auth_sends_no_token():
    instance = OsbsInstance(conf_file='/etc/osbs.conf', section='scratch', build_json_dir='/x',
                            openshift_url=BASE, namespace=NS, token=TOKEN, use_auth=False,
                            verify_ssl=False)
    responses.get(f'{BUILDS}/b', json=build_in_phase('Running', 'b'))
    OpenShiftClient.from_instance(instance).get_build('b')
    assert 'Authorization' not in responses.calls[0].request.headers
    assert responses.calls[0].request.req_kwargs['verify'] is False


@responses.activate
def test_cancel_puts_the_whole_build_with_cancelled_set():
    running = fixture('build_test-build-cancel-123_get.json')
    running['status']['phase'] = 'Running'
    url = f'{BUILDS}/test-build-cancel-123'
    responses.get(url, json=running)
    responses.put(url, json=fixture('build_test-build-cancel-123_put.json'))
    result = make_client().cancel_build('test-build-cancel-123')
    assert result['status']['phase'] == 'Cancelled'
    put = responses.calls[1].request
    assert put.method == 'PUT'
    sent = json.loads(put.body)
    assert sent['status']['cancelled'] is True
    assert sent['metadata'] == running['metadata']  # resourceVersion sent back as read
    assert sent['spec'] == running['spec']


@responses.activate
def test_cancel_rereads_and_retries_on_conflict():
    url = f'{BUILDS}/b'
    responses.get(url, json=build_in_phase('Pending', 'b', version=1))
    responses.put(url, json=status_body(409, 'Conflict', 'object has been modified'),
                  status=409)
    responses.get(url, json=build_in_phase('Running', 'b', version=2))
    responses.put(url, json=build_in_phase('Running', 'b', version=3))
    make_client().cancel_build('b')
    assert [c.request.method for c in responses.calls] == ['GET', 'PUT', 'GET', 'PUT']
    assert json.loads(responses.calls[3].request.body)['metadata']['resourceVersion'] == '2'


@responses.activate
def test_cancel_retries_transient_failures_within_its_deadline():
    url = f'{BUILDS}/b'
    for _ in range(3):
        responses.get(url, json=status_body(503, 'ServiceUnavailable', 'busy'), status=503)
    responses.get(url, json=build_in_phase('Running', 'b'))
    responses.put(url, json=build_in_phase('Cancelled', 'b'))
    assert make_client().cancel_build('b')['status']['phase'] == 'Cancelled'
    assert [c.request.method for c in responses.calls][-2:] == ['GET', 'PUT']


@responses.activate
def test_cancel_without_permission_fails_at_once():
    responses.get(f'{BUILDS}/b', json=build_in_phase('Running', 'b'))
    responses.put(f'{BUILDS}/b', json=status_body(403, 'Forbidden', 'cannot update builds'),
                  status=403)
    with pytest.raises(Forbidden, match='cannot update builds'):
        make_client().cancel_build('b')
    assert len(responses.calls) == 2


@pytest.mark.parametrize('phase', ['Complete', 'Failed', 'Error', 'Cancelled'])
@responses.activate
def test_cancel_leaves_finished_builds_alone(phase):
    responses.get(f'{BUILDS}/b', json=build_in_phase(phase, 'b'))
    assert make_client().cancel_build('b')['status']['phase'] == phase
    assert [c.request.method for c in responses.calls] == ['GET']


@responses.activate
def test_cancel_gives_up_at_its_deadline_when_the_build_keeps_changing():
    responses.get(f'{BUILDS}/b', json=build_in_phase('Running', 'b'))
    responses.put(f'{BUILDS}/b', json=status_body(409, 'Conflict', 'modified'), status=409)
    clock = FakeClock(step=0.1)
    with pytest.raises(OpenShiftTimeout) as info:
        make_client(clock).cancel_build('b', deadline=1.0)
    assert 'not cancelled within 1s' in str(info.value)
    assert 4 <= len(responses.calls) <= 12


@responses.activate
def test_build_pods_and_node():
    responses.get(PODS, json=fixture('pods.json'))
    client = make_client()
    assert client.get_build_node('test-build-123') == 'example.com'
    assert responses.calls[0].request.url == (
        f'{PODS}?labelSelector=openshift.io%2Fbuild.name%3Dtest-build-123')
    responses.get(PODS, json={'kind': 'PodList', 'items': []})
    assert client.get_build_pods('other') in ([], fixture('pods.json')['items'])


@responses.activate
def test_node_is_none_before_the_pod_is_scheduled():
    responses.get(PODS, json={'kind': 'PodList', 'items': None})
    assert make_client().get_build_node('b') is None


@responses.activate
def test_config_map_returns_parsed_config_yaml():
    config_map = fixture('create_config_map.json')
    config_map['data']['config.yaml'] = 'version: 1\nsource_registry:\n  url: reg.example\n'
    responses.get(f'{CONFIGMAPS}/reactor-config-map', json=config_map)
    assert make_client().get_config_map('reactor-config-map') == {
        'version': 1, 'source_registry': {'url': 'reg.example'}}


@pytest.mark.parametrize(('data', 'complaint'), [
    ({}, "has no data key 'config.yaml'"),
    ({'config.yaml': 'a: [1'}, 'is not valid YAML'),
    ({'config.yaml': '- a list'}, 'is not a YAML mapping'),
    ({'config.yaml': '!!python/object:os.system x'}, 'is not valid YAML'),
])
@responses.activate
def test_config_map_problems_are_named(data, complaint):
    responses.get(f'{CONFIGMAPS}/rc', json={'kind': 'ConfigMap', 'data': data})
    with pytest.raises(OpenShiftError) as info:
        make_client().get_config_map('rc')
    assert complaint in str(info.value)
    assert 'ConfigMap rc' in str(info.value)


@responses.activate
def test_image_stream_tag_resolves_to_its_docker_image_reference():
    responses.get(f'{ISTAGS}/osbs-buildroot:staged', json={
        'kind': 'ImageStreamTag', 'image': {'dockerImageReference': 'reg/buildroot@sha256:ab'}})
    assert make_client().resolve_image_stream_tag('osbs-buildroot:staged') == \
        'reg/buildroot@sha256:ab'
    assert responses.calls[0].request.url == f'{ISTAGS}/osbs-buildroot:staged'


@responses.activate
def test_build_log_without_follow():
    log = (FIXTURES / 'build_test-build-123_logs.txt').read_bytes()
    responses.get(f'{BUILDS}/b/log', body=log)
    assert make_client().get_build_log('b') == log
    assert responses.calls[0].request.url == f'{BUILDS}/b/log'
