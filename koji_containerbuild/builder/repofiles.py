"""The repository files that shape an OSBS build: Dockerfile, container.yaml,
.osbs-repo-config and additional-tags, read from one checkout with the rules osbs-client 1.10
applies to them.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from .container_yaml import ContainerYamlError, validate
from .source import SourceError

DOCKERFILE = 'Dockerfile'
CONTAINER_YAML = 'container.yaml'
CONTENT_SETS = 'content_sets.yml'
# Names osbs-client 1.10 refused as typos of the expected file (osbs/constants.py).
MISNAMED = {CONTAINER_YAML: ('container.yml',),
            CONTENT_SETS: ('content-sets.yaml', 'content-sets.yml', 'content_sets.yaml')}
REPO_CONFIG = '.osbs-repo-config'
ADDITIONAL_TAGS = 'additional-tags'
MAX_REPO_FILE_BYTES = 1024 * 1024

# osbs-client 1.10 keeps only these additional tags (a '-' would clash with version-release tags).
_VALID_TAG = re.compile(r'^[\w.]+$')


@dataclass(frozen=True)
class SourceFiles:
    """The repository files that shape an OSBS build, read from one checkout."""

    root: Path
    dockerfile: Optional[str]                 # text; None only for flatpaks without one
    container_config: Mapping[str, Any]       # container.yaml; {} when absent
    has_container_yaml: bool
    autorebuild: bool                         # .osbs-repo-config [autorebuild] enabled
    additional_tags: tuple[str, ...]          # the tags OSBS will apply (see read_source_files)
    tags_from_container_yaml: bool
    ignored_tags: tuple[str, ...]             # tags OSBS would drop; worth a user warning

    @property
    def dockerfile_path(self) -> Path:
        return self.root / DOCKERFILE


def read_source_files(root: Union[str, os.PathLike], *, flatpak: bool = False) -> SourceFiles:
    """Read Dockerfile, container.yaml, .osbs-repo-config and additional-tags from ``root``.

    Tags follow osbs-client 1.10: a non-empty ``tags`` list in container.yaml replaces the
    additional-tags file; tags with characters other than letters, digits, '_' and '.' are
    dropped (upstream koji-containerbuild skipped lines with '-' for the same reason) and listed in
    ``ignored_tags`` instead of vanishing silently. Read errors are errors, never skipped.
    """
    root = Path(root)
    dockerfile = _read_repo_file(root, DOCKERFILE)
    if dockerfile is None and not flatpak:
        # no path: the packager cannot see (or use) the builder's checkout folder
        raise SourceError('Dockerfile file missing: the repository has no Dockerfile at its top')

    # osbs-client's order: container.yaml's name, its content, then content_sets.yml's name
    _refuse_misnamed(root, CONTAINER_YAML, MISNAMED[CONTAINER_YAML])
    config_text = _read_repo_file(root, CONTAINER_YAML)
    if config_text is None and flatpak:
        raise SourceError('container.yaml file missing: flatpak builds need one at the top of '
                          'the repository, with a flatpak: section (flatpak.base_image and the '
                          'runtime or application settings)')
    config = _parse_container_yaml(config_text) if config_text is not None else {}
    _refuse_misnamed(root, CONTENT_SETS, MISNAMED[CONTENT_SETS])
    # osbs-client 1.10 refuses both mismatches before creating a build; an empty flatpak:
    # section does not make a flatpak (its `is_flatpak` is the section's truth value).
    if flatpak and not config.get('flatpak'):
        raise SourceError("Flatpak build, but repository doesn't have a container.yaml with a "
                          "flatpak: section")
    if not flatpak and config.get('flatpak'):
        raise SourceError('Not a flatpak build, but repository has a container.yaml with a '
                          'flatpak: section')

    yaml_tags = config.get('tags') or []
    if yaml_tags:
        candidates = [str(tag).strip() for tag in yaml_tags]
    else:
        tags_text = _read_repo_file(root, ADDITIONAL_TAGS) or ''
        candidates = [line.strip() for line in tags_text.splitlines()]
    candidates = [tag for tag in candidates if tag]
    kept = tuple(dict.fromkeys(tag for tag in candidates if _VALID_TAG.match(tag)))
    ignored = tuple(dict.fromkeys(tag for tag in candidates if not _VALID_TAG.match(tag)))

    return SourceFiles(root=root, dockerfile=dockerfile, container_config=config,
                       has_container_yaml=config_text is not None,
                       autorebuild=_autorebuild_enabled(_read_repo_file(root, REPO_CONFIG)),
                       additional_tags=kept, tags_from_container_yaml=bool(yaml_tags),
                       ignored_tags=ignored)


@dataclass(frozen=True)
class FlatpakIdentity:
    """What a flatpak's labels are, as osbs-client 1.10 derived them from container.yaml."""

    name: str
    component: str
    version: str               # the stream of the first module
    base_image: Optional[str]  # None: the reactor config's flatpak.base_image applies


def flatpak_identity(config: Mapping[str, Any]) -> FlatpakIdentity:
    """name and component default to the first ``compose.modules`` entry's module name, the
    version is its stream; the modules list is required (osbs-client's rule and message)."""
    modules = (config.get('compose') or {}).get('modules') or []
    if not modules:
        raise SourceError('"compose" config is missing "modules", required for Flatpak')
    module = modules[0].rsplit('/', 1)[0].split(':')   # the schema checked the form
    section = config.get('flatpak') or {}
    return FlatpakIdentity(name=section.get('name') or module[0],
                           component=section.get('component') or module[0],
                           version=module[1], base_image=section.get('base_image') or None)


def _refuse_misnamed(root: Path, expected: str, typos: tuple[str, ...]) -> None:
    """osbs-client 1.10 refused a repository file under a misspelt name, with these words."""
    wrong = next((name for name in typos
                  if (root / name).exists() or (root / name).is_symlink()), None)
    if wrong is None:
        return
    if (root / expected).exists():
        raise SourceError(f'This repo contains both {expected} and {wrong} '
                          f'Please remove {wrong}')
    raise SourceError(f'Repo contains wrong filename: {wrong}, expected: {expected}')


def _read_repo_file(root: Path, name: str) -> Optional[str]:
    """Text of ``root/name``; None if absent. Refuses links out of the repository."""
    path = root / name
    if not path.exists() and not path.is_symlink():
        return None
    resolved = path.resolve()
    if root.resolve() not in resolved.parents:
        raise SourceError(f'{name} points outside the repository')
    if not resolved.is_file():
        raise SourceError(f'{name} is not a regular file')
    try:
        if resolved.stat().st_size > MAX_REPO_FILE_BYTES:
            raise SourceError(f'{name} is larger than {MAX_REPO_FILE_BYTES} bytes')
        return resolved.read_bytes().decode('utf-8')
    except UnicodeDecodeError as exc:
        raise SourceError(f'{name} is not UTF-8 text (byte {exc.start})') from None
    except OSError as exc:
        raise SourceError(f'cannot read {name}: {exc.strerror}') from None


def _parse_container_yaml(text: str) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, 'problem_mark', None)
        at = f' at line {where.line + 1}' if where is not None else ''
        problem = getattr(exc, 'problem', None) or type(exc).__name__
        raise SourceError(f'{CONTAINER_YAML} is not valid YAML{at}: {problem}') from None
    except RecursionError:   # PyYAML composes nested collections recursively
        raise SourceError(f'{CONTAINER_YAML} is nested too deeply') from None
    try:
        return validate(data)
    except ContainerYamlError as exc:
        raise SourceError(str(exc)) from None


def _autorebuild_enabled(text: Optional[str]) -> bool:
    """osbs-client's rule: ``[autorebuild] enabled``, default false."""
    if text is None:
        return False
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text, source=REPO_CONFIG)
        return parser.getboolean('autorebuild', 'enabled', fallback=False)
    except (configparser.Error, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f'{REPO_CONFIG}: {message}') from None
