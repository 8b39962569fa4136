"""Names and label values for OpenShift objects, computed exactly as osbs-client 1.10 does.

OpenShift refuses object names and label values with characters outside small alphabets and
longer than 63 characters; osbs-client works around that by filtering characters and
interleaving two strings. The results are part of the contract: existing BuildConfigs are found
by these names and labels, so any difference would split a repository's build history.
"""

from __future__ import annotations

import re
from datetime import datetime
from hashlib import sha256
from typing import Optional
from urllib.parse import urlparse

LABEL_MAX_CHARS = 63
BUILD_NAME_MAX_CHARS = 63
# Build pods are named <bc>-<n>-build; osbs-client keeps BuildConfig names to 64 - 11 chars.
BUILD_CONFIG_NAME_LIMIT = 53
NAME_HASH_CHARS = 5

_LABEL_CHARS = re.compile(r"[-a-z0-9.]")
_BUILD_CONFIG_NAME_CHARS = re.compile(r"[-a-z0-9]")
_BUILD_NAME_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_REGISTRY_URI_RE = re.compile(r"((https?://)?([^/]*))(/(v\d+)?)?$")


class InvalidNameError(ValueError):
    """A name or registry value cannot be turned into a valid OpenShift name."""


def _interleave_sanitized(first: str, second: str, limit: int, separator: str,
                          allowed: re.Pattern[str]) -> str:
    """Filter both strings to `allowed` and take characters from each in turn until `limit`.

    The budget starts at len(separator) and stops once it reaches `limit`, so the joined result
    is at most `limit` characters (one less for a single string), as in osbs-client.
    """
    first_clean = "".join(ch for ch in first if allowed.match(ch))
    second_clean = "".join(ch for ch in second if allowed.match(ch))
    taken: tuple[list[str], list[str]] = ([], [])
    size = len(separator)
    limit = min(limit, LABEL_MAX_CHARS)
    full = False
    for index in range(max(len(first_clean), len(second_clean))):
        for source, sink in ((first_clean, taken[0]), (second_clean, taken[1])):
            if index < len(source):
                sink.append(source[index])
                size += 1
                if size >= limit:
                    full = True
                    break
        if full:
            break
    parts = ("".join(taken[0]).strip(separator), "".join(taken[1]).strip(separator))
    return separator.join(part for part in parts if part)


def sanitize_label_value(value: Optional[str]) -> str:
    """A label value as osbs-client's set_label writes it: only [-a-z0-9.], at most 62 chars.

    Uppercase letters, '/', ':' and '_' are dropped, not lowered or replaced
    ('https://src.example.com/containers/foo.git' -> 'httpssrc.example.comcontainersfoo.git').
    """
    return _interleave_sanitized(value or "", "", LABEL_MAX_CHARS, "-", _LABEL_CHARS)


def git_repo_humanish_part(git_uri: str) -> str:
    """The repository's short name: last path part without a trailing '.git' or '/.git'."""
    uri = git_uri.rstrip("/")
    if uri.endswith("/.git"):
        uri = uri[:-5]
    elif uri.endswith(".git"):
        uri = uri[:-4]
    return uri.rsplit("/", 1)[-1]


def make_name_from_git(git_uri: str, git_branch: Optional[str],
                       limit: int = BUILD_CONFIG_NAME_LIMIT) -> str:
    """The BuildConfig name for a repository and branch, e.g. 'foo-rhel-840-75fff'.

    Repository short name and branch are filtered to [-a-z0-9] and interleaved, then a
    5-hex-digit hash of '<url path><branch>' keeps names unique across namespaces of the same
    repository name.
    """
    branch = git_branch or "unknown"
    digest = sha256((urlparse(git_uri).path.lstrip("/") + branch).encode("utf-8")).hexdigest()
    hash_part = digest[:NAME_HASH_CHARS]
    readable = _interleave_sanitized(git_repo_humanish_part(git_uri), branch,
                                     limit - len(hash_part) - 1, "-", _BUILD_CONFIG_NAME_CHARS)
    return "-".join(part for part in (readable, hash_part) if part)


def limit_build_name(name: str) -> str:
    """Cut a Build/BuildConfig name to 63 characters and check OpenShift's name pattern."""
    name = name[:BUILD_NAME_MAX_CHARS]
    if not _BUILD_NAME_RE.match(name):
        raise InvalidNameError(
            f"'{name}' is not a valid OpenShift build name "
            f"(it must match {_BUILD_NAME_RE.pattern} and have at most 63 characters)")
    return name


def timestamp(now: datetime) -> str:
    """The UTC timestamp osbs-client puts in image tags and build names: %Y%m%d%H%M%S."""
    return now.strftime("%Y%m%d%H%M%S")


def image_tag(user: str, component: str, koji_target: Optional[str], rand: int,
              now: datetime) -> str:
    """The unique output tag '<user>/<component>:<target|none>-<rand>-<timestamp>'."""
    return f"{user}/{component}:{koji_target or 'none'}-{rand}-{timestamp(now)}"


def direct_build_name(prefix: str, rand: int, now: datetime) -> str:
    """'scratch-…', 'isolated-…' or 'sources-…' names: prefix, random digits, timestamp."""
    return limit_build_name(f"{prefix}-{rand}-{timestamp(now)}")


# --------------------------------------------------------------------------- image names


def registry_host(url: str) -> str:
    """The 'host[:port]' part of a registry URL such as 'https://registry.example.com/v2'."""
    match = _REGISTRY_URI_RE.match(url)
    if not match or not match.group(3):
        raise InvalidNameError(f"'{url}' is not a registry URL (expected [https://]host[:port][/v2])")
    return match.group(3)


class ImageReference:
    """A pull spec split into registry, namespace, repository and tag (osbs-client rules)."""

    def __init__(self, registry: Optional[str], namespace: Optional[str], repo: str,
                 tag: str = "latest") -> None:
        self.registry = registry
        self.namespace = namespace
        self.repo = repo
        self.tag = tag

    @classmethod
    def parse(cls, image: str) -> ImageReference:
        registry = namespace = None
        parts = image.split("/", 2)
        if len(parts) == 2:
            if "." in parts[0] or ":" in parts[0]:
                registry = parts[0]
            else:
                namespace = parts[0]
        elif len(parts) == 3:
            registry, namespace = parts[0], parts[1]
        repo, tag = parts[-1], "latest"
        for separator in "@:":
            if separator in repo:
                repo, tag = repo.rsplit(separator, 1)
                break
        return cls(registry, namespace, repo, tag)

    def enclose(self, organization: Optional[str]) -> None:
        """Move the image under the registry organization: 'ns/repo' becomes 'org/ns-repo'."""
        if not organization or self.namespace == organization:
            return
        self.repo = "-".join(part for part in (self.namespace, self.repo) if part)
        self.namespace = organization

    def to_str(self, tag: bool = True) -> str:
        text = f"{self.namespace}/{self.repo}" if self.namespace else self.repo
        if tag and ":" in self.tag:
            text = f"{text}@{self.tag}"
        elif tag:
            text = f"{text}:{self.tag}"
        if self.registry:
            text = f"{self.registry}/{text}"
        return text


def _openshift_safe(text: str) -> str:
    # ImageStream names cannot hold '/', and a registry port's ':' would read as a tag.
    return text.replace("/", "-")


def trigger_imagestreamtag(base_image: str, registry: str, organization: Optional[str]) -> str:
    """The ImageStreamTag standing for the parent image: 'registry.example.com-org-fedora:33'.

    `registry` is the registry host the image comes from (the source registry unless the
    Dockerfile names one). A missing tag becomes ':latest'.
    """
    image = ImageReference.parse(base_image)
    image.registry = None
    image.enclose(organization)
    return _openshift_safe(f"{registry.replace(':', '-')}/{image.to_str(tag=True)}")


def imagestream_name(name_label: str, registry: str, organization: Optional[str]) -> str:
    """The ImageStream atomic-reactor's import_image updates: '<registry>-<org>-<name>'."""
    image = ImageReference.parse(name_label)
    image.registry = None
    image.enclose(organization)
    return _openshift_safe(f"{registry.replace(':', '-')}/{image.to_str(tag=False)}")
