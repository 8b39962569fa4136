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

from .source import SourceError

DOCKERFILE = 'Dockerfile'
CONTAINER_YAML = 'container.yaml'
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

    config_text = _read_repo_file(root, CONTAINER_YAML)
    if config_text is None and (root / 'container.yml').exists():
        raise SourceError('found container.yml: the file must be named container.yaml')
    if config_text is None and flatpak:
        raise SourceError('container.yaml file missing: flatpak builds need one at the top of '
                          'the repository, with a flatpak: section (flatpak.base_image and the '
                          'runtime or application settings)')
    config = _parse_container_yaml(config_text) if config_text is not None else {}
    # osbs-client 1.10 refuses both mismatches before creating a build.
    if flatpak and 'flatpak' not in config:
        raise SourceError("Flatpak build, but repository doesn't have a container.yaml with a "
                          "flatpak: section")
    if not flatpak and 'flatpak' in config:
        raise SourceError('Not a flatpak build, but repository has a container.yaml with a '
                          'flatpak: section')

    yaml_tags = config.get('tags') or []
    if not isinstance(yaml_tags, list):
        raise SourceError('container.yaml: tags must be a list')
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
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SourceError(f'{CONTAINER_YAML} must be a mapping, not {type(data).__name__}')
    return data


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
