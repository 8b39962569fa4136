"""container.yaml's documented format (OSBS "Image configuration", as osbs-client 1.10 accepted
it) as a JSON Schema, and the one-line error that names the offending key.

Written from the OSBS user documentation of each key. The schema accepts what osbs-client 1.10
accepted, with three deliberate differences: ``compose.modules`` entries must have the
``NAME:STREAM[:VERSION[:CONTEXT]][/PROFILE]`` form that osbs-client's own module parser
demanded after validation (there a bad entry raised a bare ``ValueError``), the documented
``flatpak`` keys we read (``name``, ``component``, ``base_image``, ...) must be strings, and
``remote_sources`` items are checked (1.10's schema described them in a way that checked
nothing). Draft 7, so jsonschema 3.2 and 4.x validate it alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Optional

import jsonschema

FILE_NAME = 'container.yaml'

# compose.modules and the module a flatpak is built from: name:stream[:version[:context]][/profile]
MODULE_SPEC = r'^[^:/\s]+:[^:/\s]+(:[^:/\s]+){0,2}(/[^:/\s]+)?$'


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {'type': 'string', 'description': description, **extra}


def _boolean(description: str) -> dict[str, Any]:
    return {'type': 'boolean', 'description': description}


def _strings(description: str, item: Optional[dict] = None, *, null: bool = True,
             **extra: Any) -> dict[str, Any]:
    """A list of strings (or null, which osbs-client treated as absent)."""
    return {'type': ['array', 'null'] if null else 'array', 'description': description,
            'items': item or _string('a string'), **extra}


def _mapping(description: str, properties: dict[str, Any], *, null: bool = True,
             closed: bool = True, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {'type': ['object', 'null'] if null else 'object',
                              'description': description, 'properties': properties, **extra}
    if closed:
        schema['additionalProperties'] = False
    return schema


_PLATFORMS = {'type': ['string', 'array'], 'description': 'a platform name or a list of them',
              'items': _string('a platform name')}

_REMOTE_SOURCE = _mapping(
    'a mapping with repo and ref (and optionally pkg_managers, flags, packages)', {
        'repo': _string('the URL of the upstream repository'),
        'ref': _string('a full 40-character git commit id', pattern=r'^[0-9a-z]{40}$'),
        'pkg_managers': _strings('a list of Cachito package manager names'),
        'flags': _strings('a list of Cachito flags'),
        'packages': {
            'type': ['object', 'null'],
            'description': 'a mapping of package manager to a list of mappings (e.g. path)',
            'additionalProperties': {
                'type': 'array', 'description': 'a list of mappings (e.g. {path: client})',
                'items': {'type': 'object', 'minProperties': 1,
                          'description': 'a non-empty mapping (e.g. {path: client})'}}},
    }, required=['repo', 'ref'])

CONTAINER_YAML_SCHEMA: dict[str, Any] = {
    '$schema': 'http://json-schema.org/draft-07/schema#',
    'title': 'container.yaml (OSBS image configuration)',
    'type': 'object',
    'description': 'a mapping of the documented keys (autorebuild, compose, flatpak, go, '
                   'image_build_method, operator_manifests, platforms, remote_source, '
                   'remote_sources, set_release_env, tags, version)',
    'additionalProperties': False,
    'properties': {
        'platforms': _mapping('a mapping with only and/or not', {
            'only': _PLATFORMS, 'not': _PLATFORMS}),
        'autorebuild': _mapping('a mapping of autorebuild switches', {
            'from_latest': _boolean('true or false'),
            'add_timestamp_to_release': _boolean('true or false'),
            'ignore_isolated_builds': _boolean('true or false'),
        }),
        'compose': _mapping('a mapping of ODCS compose settings', {
            'packages': _strings('a list of package names'),
            'pulp_repos': _boolean('true or false'),
            'modules': _strings('a list of modules', _string(
                'a module as NAME:STREAM[:VERSION[:CONTEXT]][/PROFILE]', pattern=MODULE_SPEC)),
            'signing_intent': _string('a signing intent name'),
            'inherit': _boolean('true or false'),
            'ignore_absent_pulp_repos': _boolean('true or false'),
            'include_unpublished_pulp_repos': _boolean('true or false'),
            'multilib_method': _strings('a list of multilib methods', {
                'enum': ['none', 'iso', 'runtime', 'devel', 'all'],
                'description': 'one of none, iso, runtime, devel, all'}),
            'multilib_arches': _strings('a list of arches'),
            'modular_koji_tags': {
                'type': ['array', 'null', 'boolean'],
                'description': 'a list of Koji tags, or true for the build tag',
                'items': _string('a Koji tag name')},
            'build_only_content_sets': {
                'type': ['object', 'null'],
                'description': 'a mapping of arch to a list of content sets',
                'patternProperties': {'^[a-z]': _strings(
                    'a non-empty list of content sets', _string(
                        'a content set name ending in -rpms', pattern=r'-rpms$'),
                    null=False, minItems=1)}},
        }),
        'flatpak': _mapping('a mapping (id, branch, name, component, base_image, ...)', {
            'id': _string('the application or runtime ID'),
            'branch': _string('the application or runtime branch'),
            'name': _string('the name label of the image'),
            'component': _string('the Koji component of the image'),
            'base_image': _string('an image pull specification'),
            'cleanup-commands': _string('a shell script'),
            'command': _string('the name of an executable'),
            'tags': _strings('a list of strings', null=False),
            'finish-args': _string('arguments of flatpak build-finish in one string'),
        }, closed=False),
        'operator_manifests': _mapping('a mapping with manifests_dir', {
            'manifests_dir': _string('a path relative to the repository root',
                                     pattern=r'^[^/]'),
            'enable_digest_pinning': _boolean('true or false'),
            'enable_repo_replacements': _boolean('true or false'),
            'enable_registry_replacements': _boolean('true or false'),
            'repo_replacements': {
                'type': 'array', 'description': 'a list of mappings (registry, package_mappings)',
                'items': _mapping('a mapping with registry and package_mappings', {
                    'registry': _string('a registry name'),
                    'package_mappings': {
                        'type': 'object', 'description': 'a mapping of package to repository',
                        'additionalProperties': _string('a repository name')},
                }, null=False, required=['registry', 'package_mappings'])},
            'skip_all': _boolean('true or false'),
        }, null=False, required=['manifests_dir']),
        'image_build_method': {'enum': ['docker_api', 'imagebuilder', 'buildah_bud'],
                               'description': 'one of docker_api, imagebuilder, buildah_bud'},
        'tags': _strings('a list of tags', null=False),
        'set_release_env': _string('the name of an environment variable'),
        'version': {'type': 'integer', 'minimum': 1, 'description': 'an integer of at least 1'},
        'go': _mapping('a mapping with modules', {
            'modules': _strings('a list of mappings with module (and archive, path)', _mapping(
                'a mapping with module (and archive, path)', {
                    'module': _string('a Go module name'),
                    'archive': _string('an archive file name'),
                    'path': _string('a directory path'),
                }, null=False, required=['module'])),
        }, null=False),
        'remote_source': _REMOTE_SOURCE,
        'remote_sources': _strings('a list of mappings with name and remote_source', _mapping(
            'a mapping with name and remote_source', {
                'name': _string('letters, digits, _ and -', pattern=r'^[a-zA-Z0-9_-]*$'),
                'remote_source': _REMOTE_SOURCE,
            }, null=False, required=['name', 'remote_source'])),
    },
    # osbs-client 1.10 accepted go, remote_source and remote_sources only one at a time.
    'allOf': [
        {'not': {'required': pair}, 'description': 'cannot be used together'}
        for pair in (['go', 'remote_source'], ['go', 'remote_sources'],
                     ['remote_source', 'remote_sources'])
    ],
}

_VALIDATOR = jsonschema.Draft7Validator(CONTAINER_YAML_SCHEMA)
# YAML aliases let a few hundred bytes stand for a billion values; validation walks them all.
MAX_VALUES = 100_000
_PLAIN_KEY = re.compile(r'^[A-Za-z0-9_.-]+$')


class ContainerYamlError(ValueError):
    """container.yaml does not follow the documented format; the message is one line."""


def validate(data: Any) -> Mapping[str, Any]:
    """Return ``data`` (container.yaml parsed, None meaning empty) or raise ContainerYamlError.

    When several keys are wrong, the first in key-path order is reported, so the message does
    not depend on the jsonschema version.
    """
    if data is None:
        return {}
    _check_expanded_size(data)
    errors = list(_VALIDATOR.iter_errors(data))
    if not errors:
        return data
    error = min(errors, key=lambda err: [str(part) for part in err.absolute_path])
    raise ContainerYamlError(describe(error))


def _check_expanded_size(data: Any) -> None:
    """Refuse a document that holds more than MAX_VALUES values once aliases are expanded,
    before anything walks it (a stack, not recursion: depth costs nothing either)."""
    seen, stack = 0, [data]
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ContainerYamlError(f'{FILE_NAME}: more than {MAX_VALUES} values once YAML '
                                     'aliases are expanded; write the values out')
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def describe(error: jsonschema.ValidationError) -> str:
    """``container.yaml: <key path>: <what is allowed>; got <value>``."""
    path = list(error.absolute_path)
    schema = error.schema
    if error.validator == 'additionalProperties':
        known = sorted(schema.get('properties', {}))
        extra = sorted((key for key in error.instance if key not in known), key=str)
        key = extra[0] if extra else '?'
        return _line(path + [key], f"unknown key (allowed: {', '.join(known)})",
                     _got(error.instance.get(key)))
    if error.validator == 'required':
        missing = [key for key in error.validator_value if key not in error.instance]
        key = missing[0] if missing else '?'
        wanted = schema.get('properties', {}).get(key, {}).get('description', 'a value')
        return _line(path + [key], f'required: {wanted}', 'nothing')
    if error.validator == 'not':
        keys = ' and '.join(error.validator_value.get('required', ()))
        return f"{FILE_NAME}: {keys}: {schema.get('description', 'not allowed')}; got both"
    return _line(path, schema.get('description', error.message), _got(error.instance))


def _line(path: list, allowed: str, got: str) -> str:
    where = _key_path(path)
    return f'{FILE_NAME}: {where + ": " if where else ""}{allowed}; got {got}'


def _key_path(path: list) -> str:
    text = ''
    for part in path:
        if isinstance(part, int):
            text += f'[{part}]'
        else:
            name = part if _PLAIN_KEY.match(str(part)) else repr(part)
            text += f'.{name}' if text else str(name)
    return text


def _got(value: Any, limit: int = 60) -> str:
    if isinstance(value, Mapping):
        return 'a mapping'
    if isinstance(value, list):
        return 'a list'
    if value is None:
        return 'null'
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'
