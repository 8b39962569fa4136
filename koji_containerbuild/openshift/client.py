"""REST client for the OpenShift build API: the calls osbs-client 1.10 makes (contract §2, §9).

Paths are the group APIs osbs-client uses (``/apis/build.openshift.io/v1/namespaces/NS/...``,
``/api/v1/...``); the HTTP plumbing (retries, auth, typed errors) is ``http.py``. Watching and
log following live in ``watch.py`` and ``logstream.py`` on top of this class.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Optional
from urllib.parse import quote

import requests
import yaml

from koji_containerbuild.openshift.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    OpenShiftError,
    OpenShiftTimeout,
    describe_request,
    is_transient,
    transport_error,
)
from koji_containerbuild.openshift.http import ApiSession

log = logging.getLogger(__name__)

BUILD_API = '/apis/build.openshift.io/v1'
IMAGE_API = '/apis/image.openshift.io/v1'
CORE_API = '/api/v1'

TERMINAL_PHASES = frozenset({'complete', 'failed', 'error', 'cancelled'})
RUNNING_PHASES = frozenset({'running'})
PENDING_PHASES = frozenset({'new', 'pending'})

CONFLICT_RETRIES = 8


def phase_of(build: Optional[dict]) -> str:
    """The lowercased ``status.phase`` of a Build ('' when absent)."""
    status = (build or {}).get('status') or {}
    return str(status.get('phase') or '').lower()


def label_selector(labels: dict[str, str]) -> str:
    """``a=b,c=d`` in the caller's order, as osbs-client joins them."""
    return ','.join(f'{key}={value}' for key, value in labels.items())


def merge_build_config(existing: dict, new: dict) -> dict:
    """The BuildConfig osbs-client PUTs when one exists already (contract §4.3, step 5).

    Drops the old ``spec.nodeSelector`` and ``koji-task-id`` label, drops old ImageChange
    triggers when the new config has none (osbs-client ``clean_triggers``: a PUT must not
    start a build), replaces the ``strategy`` subtree, deep-merges everything else and keeps
    the old name (BuildConfigs cannot be renamed). Neither argument is modified.
    """
    merged = copy.deepcopy(existing)
    old_name = merged.get('metadata', {}).get('name')
    spec = merged.get('spec')
    if isinstance(spec, dict):
        spec.pop('nodeSelector', None)
        if not (new.get('spec') or {}).get('triggers') and spec.get('triggers'):
            spec['triggers'] = [t for t in spec['triggers'] if t.get('type') != 'ImageChange']
    labels = merged.get('metadata', {}).get('labels')
    if isinstance(labels, dict):
        labels.pop('koji-task-id', None)
    _deep_merge(merged, copy.deepcopy(new))
    if old_name is not None:
        merged['metadata']['name'] = old_name
    return merged


def _deep_merge(orig: dict, new: dict) -> None:
    for key, value in new.items():
        if key != 'strategy' and isinstance(orig.get(key), dict) and isinstance(value, dict):
            _deep_merge(orig[key], value)
        else:
            orig[key] = value


def _git_uri_of(build_config: dict) -> Optional[str]:
    source = (build_config.get('spec') or {}).get('source') or {}
    return (source.get('git') or {}).get('uri')


def _labels_contained(posted: dict, existing: dict) -> bool:
    """True when every label of the object we posted is on the existing one: our own object."""
    want = (posted.get('metadata') or {}).get('labels') or {}
    have = (existing.get('metadata') or {}).get('labels') or {}
    return bool(want) and all(have.get(key) == value for key, value in want.items())


class OpenShiftClient(ApiSession):
    """The OpenShift calls of one namespace. Safe to share between threads."""

    @classmethod
    def from_instance(cls, instance: Any, **kwargs: Any) -> OpenShiftClient:
        """A client for an ``OsbsInstance`` (config.py): URL, namespace, token, TLS settings."""
        cert = None
        if instance.client_cert and instance.client_key:
            cert = (instance.client_cert, instance.client_key)
        token = instance.token if instance.use_auth else None
        return cls(instance.openshift_url, instance.namespace, token=token,
                   verify=instance.verify, cert=cert, **kwargs)

    def build_path(self, resource: str, name: str = '', sub: str = '') -> str:
        return self._path(BUILD_API, resource, name, sub)

    def _path(self, api: str, resource: str, name: str = '', sub: str = '') -> str:
        path = f'{api}/namespaces/{quote(self.namespace, safe="")}/{resource}'
        if name:
            path += '/' + quote(name, safe=':@')
        if sub:
            path += '/' + sub
        return path

    # ---- builds ---------------------------------------------------------------------------

    def get_build(self, name: str) -> dict:
        return self._call('GET', self.build_path('builds', name))

    def list_builds(self, labels: Optional[dict[str, str]] = None,
                    field_selector: Optional[str] = None) -> list[dict]:
        params = {}
        if labels:
            params['labelSelector'] = label_selector(labels)
        if field_selector:
            params['fieldSelector'] = field_selector
        answer = self._call('GET', self.build_path('builds'), params=params or None)
        return answer.get('items') or []

    def create_build(self, build_json: dict) -> dict:
        """POST a Build. A 409 AlreadyExists returns the existing build when it is ours: an
        earlier attempt of this create reached the server, or it carries all our labels."""
        name = build_json['metadata']['name']
        try:
            return self._post(self.build_path('builds'), build_json)
        except AlreadyExists as exc:
            existing = self.get_build(name)
            if exc.after_retry or _labels_contained(build_json, existing):
                log.info('build %s already exists (a retried create); using it', name)
                return existing
            raise

    def cancel_build(self, name: str, deadline: float = 1.0) -> dict:
        """Set ``status.cancelled`` by GET + PUT of the whole Build, as osbs-client does.

        A finished or already cancelled build is left alone. A 409 (the build changed under
        us) or a transient failure re-reads and retries until ``deadline`` seconds have
        passed, so a cancel is quick even when the API is not. Returns the build.
        """
        give_up_at = self.clock() + deadline
        path = self.build_path('builds', name)
        attempt = 0
        while True:
            remaining = max(give_up_at - self.clock(), 0.5)
            timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
            try:
                build = self._call('GET', path, urgent=True, timeout=timeout)
                status = build.setdefault('status', {})
                if phase_of(build) in TERMINAL_PHASES or status.get('cancelled'):
                    return build
                status['cancelled'] = True
                return self._call('PUT', path, body=build, urgent=True, timeout=timeout)
            except OpenShiftError as exc:
                if not (isinstance(exc, Conflict) or is_transient(exc)):
                    raise
                attempt += 1
                if self.clock() >= give_up_at:
                    if isinstance(exc, Conflict):
                        raise OpenShiftTimeout(
                            f'build {name} not cancelled within {deadline:g}s: it kept '
                            f'changing ({attempt} conflicts)', request=exc.request,
                            status_code=409) from exc
                    raise
                log.info('cancel of build %s: %s; trying again', name, exc)
                self.sleep(min(0.02 * attempt, 0.1))

    def get_build_log(self, name: str) -> bytes:
        """The log as it is now (no follow); see logstream.follow_build_log for following."""
        path = self.build_path('builds', name, 'log')
        response = self._send('GET', path)
        with response:
            try:
                return response.content
            except requests.RequestException as exc:
                raise transport_error(exc, describe_request('GET', path),
                                      'log cut short') from exc

    def open_build_watch(self, name: str, read_timeout: Optional[float] = None
                         ) -> requests.Response:
        """A streaming watch of one build; the caller iterates and closes it."""
        params = {'watch': 'true', 'fieldSelector': f'metadata.name={name}'}
        return self._send('GET', self.build_path('builds'), params=params, stream=True,
                          timeout=(self.connect_timeout, read_timeout or self.read_timeout))

    def open_build_log(self, name: str, read_timeout: Optional[float] = None
                       ) -> requests.Response:
        """A streaming ``log?follow=true`` of one build; the caller iterates and closes it."""
        return self._send('GET', self.build_path('builds', name, 'log'),
                          params={'follow': 'true'}, stream=True,
                          timeout=(self.connect_timeout, read_timeout or self.read_timeout))

    def get_build_pods(self, name: str) -> list[dict]:
        params = {'labelSelector': f'openshift.io/build.name={name}'}
        answer = self._call('GET', self._path(CORE_API, 'pods'), params=params)
        return answer.get('items') or []

    def get_build_node(self, name: str) -> Optional[str]:
        """The node the build's pod was scheduled on, None before scheduling."""
        for pod in self.get_build_pods(name):
            node = (pod.get('spec') or {}).get('nodeName')
            if node:
                return node
        return None

    # ---- buildconfigs ---------------------------------------------------------------------

    def get_build_config(self, name: str) -> dict:
        return self._call('GET', self.build_path('buildconfigs', name))

    def list_build_configs(self, labels: dict[str, str]) -> list[dict]:
        answer = self._call('GET', self.build_path('buildconfigs'),
                            params={'labelSelector': label_selector(labels)})
        return answer.get('items') or []

    def find_build_config(self, git_repo_name: str, git_branch: str, git_full_repo: str,
                          git_uri: Optional[str], name: str) -> Optional[dict]:
        """The existing BuildConfig for a repo and branch, by osbs-client's three lookups
        (contract §4.3 step 2): all three git labels (exactly one match), then repo name and
        branch filtered on ``spec.source.git.uri`` (exactly one), then the name. None if none."""
        repo_branch = {'git-repo-name': git_repo_name, 'git-branch': git_branch}
        found = self.list_build_configs({**repo_branch, 'git-full-repo': git_full_repo})
        if len(found) == 1:
            return found[0]
        found = self.list_build_configs(repo_branch)
        if git_uri is not None:
            found = [bc for bc in found if _git_uri_of(bc) == git_uri]
        if len(found) == 1:
            return found[0]
        try:
            return self.get_build_config(name)
        except NotFound:
            return None

    def create_build_config(self, build_config: dict) -> dict:
        """POST a BuildConfig; a retried create meeting its first attempt returns the object."""
        name = build_config['metadata']['name']
        try:
            return self._post(self.build_path('buildconfigs'), build_config)
        except AlreadyExists as exc:
            existing = self.get_build_config(name)
            if exc.after_retry or _labels_contained(build_config, existing):
                return existing
            raise

    def update_build_config(self, existing: dict, new: dict) -> dict:
        """PUT ``merge_build_config(existing, new)``; on 409 re-read, re-merge and retry."""
        name = existing['metadata']['name']
        current = existing
        attempt = 0
        while True:
            try:
                return self._call('PUT', self.build_path('buildconfigs', name),
                                  body=merge_build_config(current, new))
            except Conflict:
                attempt += 1
                if attempt > CONFLICT_RETRIES:
                    raise
                log.info('buildconfig %s changed meanwhile; merging again (%d)', name, attempt)
                self.sleep(self.backoff(attempt))
                current = self.get_build_config(name)

    def set_build_config_triggers(self, name: str, triggers: list,
                                  labels: dict[str, str]) -> dict:
        """GET the BuildConfig, replace ``spec.triggers``, add ``labels``, PUT it (osbs-client
        ``_update_build_config_with_triggers``); a 409 reads it again."""
        attempt = 0
        while True:
            current = self.get_build_config(name)
            current.setdefault('spec', {})['triggers'] = copy.deepcopy(triggers)
            current.setdefault('metadata', {}).setdefault('labels', {}).update(labels)
            try:
                return self._call('PUT', self.build_path('buildconfigs', name), body=current)
            except Conflict:
                attempt += 1
                if attempt > CONFLICT_RETRIES:
                    raise
                self.sleep(self.backoff(attempt))

    def instantiate_build_config(self, name: str) -> dict:
        """Start a build of a BuildConfig; returns the new Build.

        The POST is not idempotent: a lost answer may have started a build. Before each
        retry the config's ``status.lastVersion`` is compared with its value before the first
        attempt; when it grew, the build ``<name>-<lastVersion>`` is the one we started.
        """
        def last_version() -> int:
            return int((self.get_build_config(name).get('status') or {}).get('lastVersion') or 0)

        before = last_version()

        def started_meanwhile() -> Optional[dict]:
            now = last_version()
            return self.get_build(f'{name}-{now}') if now > before else None

        body = {'kind': 'BuildRequest', 'apiVersion': 'build.openshift.io/v1',
                'metadata': {'name': name}}
        return self._post(self.build_path('buildconfigs', name, 'instantiate'), body,
                          before_retry=started_meanwhile)

    # ---- configmaps, imagestreams, imagestreamtags ---------------------------------------

    def get_config_map(self, name: str, key: str = 'config.yaml') -> dict:
        """The YAML document under ``data[key]`` of a ConfigMap (the reactor config), parsed."""
        path = self._path(CORE_API, 'configmaps', name)
        answer = self._call('GET', path)
        text = (answer.get('data') or {}).get(key)
        desc = describe_request('GET', path)
        if text is None:
            raise OpenShiftError(f'ConfigMap {name} has no data key {key!r}', request=desc)
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise OpenShiftError(f'ConfigMap {name} key {key!r} is not valid YAML: {exc}',
                                 request=desc) from exc
        if not isinstance(parsed, dict):
            raise OpenShiftError(f'ConfigMap {name} key {key!r} is not a YAML mapping',
                                 request=desc)
        return parsed

    def get_image_stream_tag(self, name: str) -> dict:
        return self._call('GET', self._path(IMAGE_API, 'imagestreamtags', name))

    def put_image_stream_tag(self, name: str, tag: dict) -> dict:
        """Create or replace an ImageStreamTag ('is:tag'); OpenShift then imports its image."""
        return self._call('PUT', self._path(IMAGE_API, 'imagestreamtags', name), body=tag)

    def get_image_stream(self, name: str) -> dict:
        return self._call('GET', self._path(IMAGE_API, 'imagestreams', name))

    def create_image_stream(self, stream: dict) -> dict:
        """POST an ImageStream; one that appeared meanwhile (another task) is just as good."""
        name = stream['metadata']['name']
        try:
            return self._post(self._path(IMAGE_API, 'imagestreams'), stream)
        except AlreadyExists:
            return self.get_image_stream(name)

    def resolve_image_stream_tag(self, name: str) -> str:
        """``image.dockerImageReference`` of an ImageStreamTag ('is:tag'), for direct builds."""
        ist = self.get_image_stream_tag(name)
        reference = (ist.get('image') or {}).get('dockerImageReference')
        if not reference:
            raise OpenShiftError(f'ImageStreamTag {name} has no image.dockerImageReference',
                                 request=describe_request(
                                     'GET', self._path(IMAGE_API, 'imagestreamtags', name)))
        return reference
