"""BuildConfig flow of the client (contract §4.3): lookups, create, merge-update, instantiate."""

from __future__ import annotations

import copy
import json

import pytest
import responses

from koji_containerbuild.openshift.client import merge_build_config
from koji_containerbuild.openshift.errors import Conflict
from tests.openshift.test_client_support import (
    BUILDCONFIGS,
    BUILDS,
    FakeClock,
    build_in_phase,
    fixture,
    make_client,
    status_body,
)

GIT_URI = 'https://github.com/TomasTomecek/docker-hello-world.git'


def build_config(name='docker-hello-world-master-bd212', uri=GIT_URI, version=7, **labels):
    bc = copy.deepcopy(fixture('created_build_config_test-build-config-123.json'))
    bc['metadata']['name'] = name
    bc['metadata']['resourceVersion'] = str(version)
    bc['metadata']['labels'] = {'git-repo-name': 'docker-hello-world', 'git-branch': 'master',
                                'git-full-repo': 'httpsgithub.comomasomecekdocker-hello-world.git',
                                **labels}
    bc['spec']['source']['git']['uri'] = uri
    bc['status'] = {'lastVersion': 3}
    return bc


def bc_list(*items):
    return {'kind': 'BuildConfigList', 'apiVersion': 'build.openshift.io/v1', 'items': list(items)}


def find(client):
    return client.find_build_config('docker-hello-world', 'master',
                                    'httpsgithub.comomasomecekdocker-hello-world.git', GIT_URI,
                                    'docker-hello-world-master-bd212')


@responses.activate
def test_first_lookup_uses_all_three_git_labels():
    responses.get(BUILDCONFIGS, json=bc_list(build_config('by-labels')))
    assert find(make_client())['metadata']['name'] == 'by-labels'
    assert [c.request.url for c in responses.calls] == [
        f'{BUILDCONFIGS}?labelSelector=git-repo-name%3Ddocker-hello-world%2Cgit-branch%3Dmaster'
        '%2Cgit-full-repo%3Dhttpsgithub.comomasomecekdocker-hello-world.git']


@responses.activate
def test_second_lookup_filters_repo_and_branch_matches_on_the_git_uri():
    responses.get(BUILDCONFIGS, json=bc_list())
    responses.get(BUILDCONFIGS, json=bc_list(build_config('fork', uri='https://x/fork.git'),
                                             build_config('old-style')))
    assert find(make_client())['metadata']['name'] == 'old-style'
    assert responses.calls[1].request.url == (
        f'{BUILDCONFIGS}?labelSelector=git-repo-name%3Ddocker-hello-world%2Cgit-branch%3Dmaster')


@responses.activate
def test_ambiguous_label_matches_fall_back_to_the_name():
    two = bc_list(build_config('a'), build_config('b'))
    responses.get(BUILDCONFIGS, json=two)
    responses.get(BUILDCONFIGS, json=two)
    responses.get(f'{BUILDCONFIGS}/docker-hello-world-master-bd212', json=build_config())
    assert find(make_client())['metadata']['name'] == 'docker-hello-world-master-bd212'
    assert len(responses.calls) == 3


@responses.activate
def test_no_build_config_at_all_is_none():
    responses.get(BUILDCONFIGS, json=bc_list())
    responses.get(f'{BUILDCONFIGS}/docker-hello-world-master-bd212',
                  json=status_body(404, 'NotFound', 'not found'), status=404)
    assert find(make_client()) is None
    assert len(responses.calls) == 3


@responses.activate
def test_create_build_config_posts_it():
    bc = build_config()
    responses.post(BUILDCONFIGS, json=bc, status=201)
    assert make_client().create_build_config(bc)['metadata']['name'] == bc['metadata']['name']
    assert json.loads(responses.calls[0].request.body) == bc


def test_merge_rule_of_osbs_client():
    existing = build_config('kept-name', **{'koji-task-id': '11', 'is_autorebuild': 'false'})
    existing['spec']['nodeSelector'] = {'old': 'node'}
    existing['spec']['strategy']['customStrategy']['obsolete'] = True
    existing['spec']['triggers'] = [{'type': 'ImageChange', 'imageChange': {}},
                                    {'type': 'ConfigChange'}]
    existing['metadata']['annotations'] = {'kept': 'annotation'}
    before = copy.deepcopy(existing)
    new = {'kind': 'BuildConfig',
           'metadata': {'name': 'rendered-name', 'labels': {'koji-task-id': '12',
                                                            'git-branch': 'master'}},
           'spec': {'strategy': {'type': 'Custom', 'customStrategy': {'from': {'name': 'x'}}},
                    'output': {'to': {'name': 'new-tag'}}}}
    new_before = copy.deepcopy(new)

    merged = merge_build_config(existing, new)

    assert merged['metadata']['name'] == 'kept-name'  # BuildConfigs cannot be renamed
    assert merged['metadata']['labels']['koji-task-id'] == '12'
    assert merged['metadata']['labels']['is_autorebuild'] == 'false'  # deep-merged, kept
    assert merged['metadata']['annotations'] == {'kept': 'annotation'}
    assert merged['metadata']['resourceVersion'] == '7'  # so a concurrent change gives 409
    assert 'nodeSelector' not in merged['spec']
    assert merged['spec']['strategy'] == new['spec']['strategy']  # replaced, not merged
    assert merged['spec']['output']['to'] == {'kind': 'DockerImage', 'name': 'new-tag'}
    assert merged['spec']['output']['pushSecret'] == existing['spec']['output']['pushSecret']
    assert merged['spec']['triggers'] == [{'type': 'ConfigChange'}]  # no auto-build on PUT
    assert (existing, new) == (before, new_before)


def test_merge_drops_old_koji_task_id_even_when_the_new_config_has_none():
    existing = build_config(**{'koji-task-id': '11'})
    merged = merge_build_config(existing, {'metadata': {'labels': {'a': 'b'}}, 'spec': {}})
    assert 'koji-task-id' not in merged['metadata']['labels']


@responses.activate
def test_update_puts_the_merged_config_under_the_old_name():
    existing = build_config('kept-name', **{'koji-task-id': '11'})
    new = {'metadata': {'name': 'rendered', 'labels': {'koji-task-id': '12'}}, 'spec': {}}
    responses.put(f'{BUILDCONFIGS}/kept-name', json=build_config('kept-name', version=8))
    make_client().update_build_config(existing, new)
    assert json.loads(responses.calls[0].request.body) == merge_build_config(existing, new)


@responses.activate
def test_update_conflict_rereads_and_merges_again():
    stale = build_config('bc', version=7)
    fresh = build_config('bc', version=9, someone='else')
    new = {'metadata': {'labels': {'koji-task-id': '12'}}, 'spec': {}}
    url = f'{BUILDCONFIGS}/bc'
    responses.put(url, json=status_body(409, 'Conflict', 'the object has been modified'),
                  status=409)
    responses.get(url, json=fresh)
    responses.put(url, json=fresh)
    clock = FakeClock()
    make_client(clock).update_build_config(stale, new)
    assert [c.request.method for c in responses.calls] == ['PUT', 'GET', 'PUT']
    second = json.loads(responses.calls[2].request.body)
    assert second['metadata']['resourceVersion'] == '9'
    assert second['metadata']['labels']['someone'] == 'else'
    assert second['metadata']['labels']['koji-task-id'] == '12'
    assert clock.sleeps == [0.5]


@responses.activate
def test_update_conflicts_are_bounded():
    url = f'{BUILDCONFIGS}/bc'
    responses.put(url, json=status_body(409, 'Conflict', 'modified'), status=409)
    responses.get(url, json=build_config('bc'))
    with pytest.raises(Conflict):
        make_client().update_build_config(build_config('bc'), {'spec': {}})
    assert 10 <= len(responses.calls) <= 20


@responses.activate
def test_instantiate_posts_a_build_request():
    responses.get(f'{BUILDCONFIGS}/bc', json=build_config('bc'))
    responses.post(f'{BUILDCONFIGS}/bc/instantiate',
                   json=fixture('instantiated_test-build-config-123.json'), status=201)
    build = make_client().instantiate_build_config('bc')
    assert build['kind'] == 'Build'
    post = responses.calls[1].request
    assert post.url == f'{BUILDCONFIGS}/bc/instantiate'
    assert json.loads(post.body) == {'kind': 'BuildRequest', 'apiVersion': 'build.openshift.io/v1',
                                     'metadata': {'name': 'bc'}}


@responses.activate
def test_instantiate_whose_answer_was_lost_does_not_start_a_second_build():
    before = build_config('bc')
    after = build_config('bc')
    after['status']['lastVersion'] = 4
    responses.get(f'{BUILDCONFIGS}/bc', json=before)
    responses.post(f'{BUILDCONFIGS}/bc/instantiate',
                   json=status_body(500, 'InternalError', 'etcd timeout'), status=500)
    responses.get(f'{BUILDCONFIGS}/bc', json=after)
    responses.get(f'{BUILDS}/bc-4', json=build_in_phase('New', 'bc-4'))
    build = make_client().instantiate_build_config('bc')
    assert build['metadata']['name'] == 'bc-4'
    assert [c.request.method for c in responses.calls] == ['GET', 'POST', 'GET', 'GET']


@responses.activate
def test_instantiate_retries_when_the_failed_attempt_started_nothing():
    responses.get(f'{BUILDCONFIGS}/bc', json=build_config('bc'))
    responses.post(f'{BUILDCONFIGS}/bc/instantiate',
                   json=status_body(503, 'ServiceUnavailable', 'busy'), status=503)
    responses.post(f'{BUILDCONFIGS}/bc/instantiate', json=build_in_phase('New', 'bc-4'),
                   status=201)
    assert make_client().instantiate_build_config('bc')['metadata']['name'] == 'bc-4'
    assert [c.request.method for c in responses.calls] == ['GET', 'POST', 'GET', 'POST']
