"""The parent image's ImageStream and ImageStreamTag, which autorebuilds hang on (osbs-client 1.10
``_get_or_create_imagestream`` and ``ensure_image_stream_tag``, contract §4.3 steps 3 and 6).

A BuildConfig's ImageChange trigger fires when the ImageStreamTag it names gets a new image.
That happens only if the tag exists and OpenShift re-imports it on a schedule, so a regular
build with autorebuild enabled first makes sure of both: the ImageStream named after the parent
image exists, and its tag imports ``<registry>/<org>/<repo>:<tag>`` with
``importPolicy.scheduled`` and the registry's ``insecure`` setting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional

from koji_containerbuild.openshift import names
from koji_containerbuild.openshift.client import OpenShiftClient
from koji_containerbuild.openshift.errors import Conflict, NotFound
from koji_containerbuild.openshift.reactor_config import ReactorConfig
from koji_containerbuild.openshift.templates import IMAGE_STREAM, IMAGE_STREAM_TAG, load_template

log = logging.getLogger("koji.plugin.containerbuild")

# osbs-client's get_image_stream_tag_with_retry: 6 tries one second apart (OS_NOT_FOUND_*).
TAG_LOOKUPS = 6
TAG_LOOKUP_DELAY = 1.0
CONFLICT_RETRIES = 8


@dataclass(frozen=True)
class ParentStream:
    """Where the parent image lives in OpenShift and where OpenShift imports it from."""

    stream: str         # ImageStream name, e.g. 'registry.example.com-org-fedora'
    tag: str            # its tag, e.g. '33'
    repository: str     # the pull spec imported, e.g. 'registry.example.com/org/fedora:33'
    insecure: bool      # the registry's `insecure` in the reactor config

    @property
    def tag_id(self) -> str:
        return f"{self.stream}:{self.tag}"


def parent_stream(trigger_tag: str, base_image: str, reactor: ReactorConfig) -> ParentStream:
    """The parent image of a rendered trigger (``request.first_ist_trigger``).

    The repository gets the source registry when FROM names none, and the registry
    organization only for the source registry, as in osbs-client.
    """
    stream, _, tag = trigger_tag.rpartition(":")
    source = reactor.source_registry()
    image = names.ImageReference.parse(base_image)
    image.registry = reactor.base_image_registry(base_image, source)
    if image.registry == source:
        image.enclose(reactor.organization())
    return ParentStream(stream=stream, tag=tag, repository=image.to_str(),
                        insecure=reactor.registry_insecure(image.registry, source))


def ensure_image_stream(client: OpenShiftClient, parent: ParentStream,
                        build_json_dir: str) -> None:
    """GET the ImageStream, or create it from ``image_stream.json`` (name and empty
    annotations filled in, everything else from the template)."""
    try:
        client.get_image_stream(parent.stream)
        return
    except NotFound:
        pass
    stream = load_template(build_json_dir, IMAGE_STREAM)
    stream.setdefault("metadata", {})["name"] = parent.stream
    stream["metadata"].setdefault("annotations", {})
    log.info("Creating ImageStream %s for %s", parent.stream, parent.repository)
    client.create_image_stream(stream)


def ensure_image_stream_tag(client: OpenShiftClient, parent: ParentStream, build_json_dir: str,
                            scheduled: bool = True) -> bool:
    """Make sure the tag exists and imports on schedule; True when it had to be changed.

    A missing tag is created from ``image_stream_tag.json``; an existing one keeps its
    source and only gets ``importPolicy.insecure``/``scheduled`` corrected. A 409 (someone
    changed it meanwhile) reads it again.
    """
    for attempt in range(CONFLICT_RETRIES + 1):
        changed = False
        try:
            tag = client.get_image_stream_tag(parent.tag_id)
        except NotFound:
            tag = load_template(build_json_dir, IMAGE_STREAM_TAG)
            tag.setdefault("metadata", {})["name"] = parent.tag_id
            tag["tag"]["name"] = parent.tag
            tag["tag"]["from"]["name"] = parent.repository
            changed = True
        if not isinstance(tag.get("tag"), dict):   # an image pushed without a spec tag
            tag["tag"] = {"name": parent.tag,
                          "from": {"kind": "DockerImage", "name": parent.repository}}
            changed = True
        policy = tag["tag"].get("importPolicy")
        if not isinstance(policy, dict):
            policy = tag["tag"]["importPolicy"] = {}
        for key, wanted in (("insecure", parent.insecure), ("scheduled", scheduled)):
            if policy.get(key, False) != wanted:
                policy[key] = wanted
                changed = True
        if not changed:
            return False
        try:
            client.put_image_stream_tag(parent.tag_id, tag)
            log.info("ImageStreamTag %s imports %s (scheduled=%s, insecure=%s)",
                     parent.tag_id, parent.repository, scheduled, parent.insecure)
            return True
        except Conflict:
            if attempt == CONFLICT_RETRIES:
                raise
            client.sleep(client.backoff(attempt + 1))
    return True


def wait_for_image(client: OpenShiftClient, parent: ParentStream,
                   sleep: Optional[Callable[[float], None]] = None) -> Optional[dict]:
    """The ImageStreamTag once its import produced an image; None if it did not in ~6 s.

    OpenShift answers 404 for a tag whose import has not succeeded (yet), e.g. a parent image
    that does not exist in the registry.
    """
    pause = sleep or client.sleep
    for attempt in range(TAG_LOOKUPS):
        try:
            return client.get_image_stream_tag(parent.tag_id)
        except NotFound:
            if attempt + 1 < TAG_LOOKUPS:
                pause(TAG_LOOKUP_DELAY)
    log.info("ImageStreamTag %s does not exist (yet)", parent.tag_id)
    return None
