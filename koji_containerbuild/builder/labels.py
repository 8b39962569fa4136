"""Dockerfile labels → component, name and the NVR Koji will get.

Pure functions over Dockerfile text (dockerfile-parse, never writing next to the source). The
rules and error texts are upstream koji-containerbuild's (upstream-features.md §1.6), plus the
label checks osbs-client 1.10 ran on the builder before creating a build (osbs1-contract.md §2.3
step 4): this project replaces osbs-client, so packagers get the same refusals as before.
"""

from __future__ import annotations

import enum
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Optional, Union

from dockerfile_parse import DockerfileParser

MAX_TAG_LENGTH = 128

# osbs-client 1.10 `_check_labels`. Its release pattern, ^\d+([._]?[a-zA-Z0-9]+)*$, takes
# exponential time on a label like '1aaaa…-' (the optional separator lets every run of
# letters split many ways); this one accepts the same strings, each character one way.
RELEASE_LABEL_FORMAT = re.compile(r'^\d[a-zA-Z0-9]*([._][a-zA-Z0-9]+)*$')
VERSION_FORBIDDEN_CHARS = ('-',)


class LabelsError(ValueError):
    """A Dockerfile problem the packager must fix; the message is one line."""


class LabelId(str, enum.Enum):
    """What Koji needs from the labels; the value is the key of the `overrides` mapping."""

    COMPONENT = 'component'
    VERSION = 'version'
    RELEASE = 'release'
    NAME = 'name'


# Accepted Dockerfile label names, preferred first; the others are deprecated spellings.
LABEL_NAMES: Mapping[LabelId, tuple[str, ...]] = {
    LabelId.COMPONENT: ('com.redhat.component', 'BZComponent'),
    LabelId.VERSION: ('version', 'Version'),
    LabelId.RELEASE: ('release', 'Release'),
    LabelId.NAME: ('name', 'Name'),
}

# Must be present with a non-empty value / must merely be present (kcb@88217a9).
_REQUIRED_NON_EMPTY = (LabelId.COMPONENT, LabelId.NAME)
_REQUIRED_DEFINED = (LabelId.VERSION,)
_MISSING_REPORT_ORDER = (LabelId.COMPONENT, LabelId.VERSION, LabelId.RELEASE, LabelId.NAME)


def format_label(label_id: LabelId) -> str:
    """User-facing name with alternatives, e.g. ``com.redhat.component (or BZComponent)``."""
    first, *others = LABEL_NAMES[label_id]
    if not others:
        return first
    return f"{first} (or {' or '.join(others)})"


@dataclass(frozen=True)
class DockerfileInfo:
    """What the build needs from a Dockerfile: final-stage labels and the FROM images."""

    labels: Mapping[str, str]
    parent_images: tuple[str, ...]

    @property
    def base_image(self) -> str:
        """The image of the last FROM (OSBS's ``base_image``)."""
        return self.parent_images[-1]

    @property
    def from_scratch(self) -> bool:
        return self.base_image == 'scratch'

    @property
    def is_multistage(self) -> bool:
        return len(self.parent_images) > 1


def parse_dockerfile(content: Union[str, bytes]) -> DockerfileInfo:
    """Parse Dockerfile text. Labels are the final stage's, with ENV substitution.

    Labels inherited from the parent image are invisible here (as upstream); an ENV variable that is
    not set in the Dockerfile substitutes as the empty string.
    """
    data = content.encode('utf-8') if isinstance(content, str) else content
    # fileobj: the parser never touches the checkout (it would write a Dockerfile on any setter).
    parser = DockerfileParser(fileobj=io.BytesIO(data), env_replace=True)
    parents = tuple(parser.parent_images)
    if not parents:
        raise LabelsError('Dockerfile has no FROM instruction')
    return DockerfileInfo(labels=dict(parser.labels), parent_images=parents)


class ImageLabels:
    """The labels Koji cares about, looked up by accepted name, with option overrides.

    ``overrides`` maps a `LabelId` value (e.g. ``'release'``) to a value that wins over the
    Dockerfile (the ``release`` build option). ``None`` or empty overrides are ignored.
    """

    def __init__(self, labels: Mapping[str, str],
                 overrides: Optional[Mapping[str, Optional[str]]] = None) -> None:
        self._labels = dict(labels)
        self._overrides = {LabelId(key): value for key, value in (overrides or {}).items()
                           if value}

    @classmethod
    def from_dockerfile(cls, content: Union[str, bytes],
                        overrides: Optional[Mapping[str, Optional[str]]] = None) -> ImageLabels:
        return cls(parse_dockerfile(content).labels, overrides)

    @property
    def all_labels(self) -> Mapping[str, str]:
        """Every final-stage label as written in the Dockerfile (no overrides)."""
        return dict(self._labels)

    def dockerfile_value(self, label_id: LabelId) -> tuple[Optional[str], Optional[str]]:
        """``(label name used, value)`` from the Dockerfile alone, first accepted name wins."""
        for name in LABEL_NAMES[label_id]:
            if name in self._labels:
                return name, self._labels[name]
        return None, None

    def get(self, label_id: LabelId) -> Optional[str]:
        """Override if given, else the Dockerfile value; None when not defined at all."""
        if label_id in self._overrides:
            return self._overrides[label_id]
        return self.dockerfile_value(label_id)[1]

    @property
    def component(self) -> Optional[str]:
        return self.get(LabelId.COMPONENT)

    @property
    def version(self) -> Optional[str]:
        return self.get(LabelId.VERSION)

    @property
    def release(self) -> Optional[str]:
        return self.get(LabelId.RELEASE)

    @property
    def name(self) -> Optional[str]:
        return self.get(LabelId.NAME)

    def image_name(self) -> Optional[str]:
        """The ``name`` label: the repository the image is pushed to (not part of the NVR)."""
        return self.name

    def deprecated_names_used(self) -> list[tuple[str, str]]:
        """``(deprecated name, preferred name)`` pairs the Dockerfile relies on, for warnings."""
        found = []
        for label_id, names in LABEL_NAMES.items():
            used, _ = self.dockerfile_value(label_id)
            if used is not None and used != names[0] and label_id not in self._overrides:
                found.append((used, names[0]))
        return found

    def missing_required(self) -> list[LabelId]:
        missing = []
        for label_id in _MISSING_REPORT_ORDER:
            value = self.get(label_id)
            if label_id in _REQUIRED_NON_EMPTY and not value:
                missing.append(label_id)
            elif label_id in _REQUIRED_DEFINED and value is None:
                missing.append(label_id)
        return missing

    def check_required(self) -> None:
        """Upstream's rule: component and name non-empty, version defined, release optional."""
        missing = self.missing_required()
        if missing:
            listed = ', '.join(format_label(label_id) for label_id in missing)
            raise LabelsError(f"Required LABELs haven't been found in Dockerfile: {listed}.")

    def check_osbs_rules(self) -> None:
        """The label checks osbs-client 1.10 made before creating a build (`_check_labels`), on
        the Dockerfile values, with its messages; the release one also names the value."""
        _, release = self.dockerfile_value(LabelId.RELEASE)
        if release and not RELEASE_LABEL_FORMAT.match(release):
            raise LabelsError("release label doesn't have proper format: "
                              f"{release!r} doesn't match regex {RELEASE_LABEL_FORMAT.pattern}")
        _, version = self.dockerfile_value(LabelId.VERSION)
        bad = [char for char in VERSION_FORBIDDEN_CHARS if version and char in version]
        if bad:
            # osbs-client's words, its list formatting included
            raise LabelsError(f"version label '{version}' contains not allowed chars : '{bad}'")
        _, name = self.dockerfile_value(LabelId.NAME)
        if name and '.' in name.split('/', 1)[0]:
            raise LabelsError("initial image name component must not contain '.' "
                              f"(name label '{name}')")

    def version_release_tag(self) -> Optional[str]:
        """``<version>-<release>``, the tag OSBS pushes; None unless both are non-empty."""
        if self.version and self.release:
            return f'{self.version}-{self.release}'
        return None

    def expected_nvr(self) -> Optional[str]:
        """``<component>-<version>-<release>``; None when Koji/OSBS chooses the release."""
        tag = self.version_release_tag()
        if tag is None or not self.component:
            return None
        return f'{self.component}-{tag}'

    def check_tag_lengths(self, additional_tags: Iterable[str] = ()) -> None:
        """Docker refuses tags over 128 characters: check the version-release tag and the
        additional tags (lines with '-' are expected to have been dropped already, see
        `koji_containerbuild.builder.source`). Upstream's message names version-release in all
        cases."""
        tags = [tag for tag in additional_tags if tag]
        version_release = self.version_release_tag()
        if version_release:
            tags.append(version_release)
        longest = max((len(tag) for tag in tags), default=0)
        if longest > MAX_TAG_LENGTH:
            raise LabelsError('Docker cannot create image with a tag longer than '
                              f'{MAX_TAG_LENGTH}, current version-release tag length is {longest}')
