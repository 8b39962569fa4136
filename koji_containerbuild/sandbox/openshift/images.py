"""Image streams in the OpenShift simulator: ImageStreams, ImageStreamTags, imports from a
pretend registry, scheduled re-imports and ImageStreamImport (shapes of
``tests/fixtures/openshift-3.9.41/imagestream*.json``).

As in OpenShift, an ImageStreamTag is a tag of its ImageStream: a PUT adds the spec tag
(creating the stream if needed) and imports ``tag.from``; only a successful import gives the
tag an image, and a tag without one answers 404 to a GET. The "registry" is a dict of pull
specs to digests: unknown pull specs import with a digest derived from their name, pull specs
marked missing fail. ``push`` changes what a pull spec names and re-imports every tag whose
``importPolicy.scheduled`` is set, as OpenShift's scheduled importer does every few minutes;
the API then fires the ImageChange triggers that see a new image.
"""

from __future__ import annotations

import copy
import hashlib
import time
import uuid
from typing import Any, Callable, Optional

from koji_containerbuild.sandbox.openshift.store import ApiError, ObjectStore, rfc3339

REGISTRY_SERVICE = "docker-registry.default.svc:5000"


def digest_reference(pullspec: str, salt: str = "") -> str:
    """``repo@sha256:…`` for ``repo:tag``, stable for a given pull spec and salt."""
    repo = pullspec.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    digest = hashlib.sha256(f"{pullspec}|{salt}".encode()).hexdigest()
    return f"{repo}@sha256:{digest}"


def imagestreamtag(name: str, image_reference: str) -> dict:
    """An ImageStreamTag whose image is ``image_reference``."""
    digest = image_reference.rsplit("@", 1)[-1] if "@" in image_reference else \
        "sha256:" + "0" * 64
    return {
        "metadata": {"name": name},
        "tag": {"name": name.rsplit(":", 1)[-1], "annotations": None, "generation": 1,
                "from": {"kind": "DockerImage", "name": image_reference},
                "importPolicy": {}, "referencePolicy": {"type": "Source"}},
        "generation": 1, "lookupPolicy": {"local": False},
        "image": {"metadata": {"name": digest, "creationTimestamp": rfc3339(time.time())},
                  "dockerImageReference": image_reference, "dockerImageMetadataVersion": "1.0",
                  "dockerImageMetadata": {"kind": "DockerImage", "apiVersion": "1.0",
                                          "Architecture": "amd64"},
                  "dockerImageManifestMediaType":
                      "application/vnd.docker.distribution.manifest.v2+json"},
    }


class ImageStreams:
    """The image side of the simulated API; every method runs under the store lock."""

    def __init__(self, store: ObjectStore, fire_triggers: Callable[[], None]):
        self.store = store
        self.fire_triggers = fire_triggers
        self.images: dict[str, str] = {}      # pull spec -> digest reference
        self.missing: set[str] = set()

    # -- the pretend registry ----------------------------------------------------------------

    def resolve(self, pullspec: str) -> Optional[str]:
        if pullspec in self.missing:
            return None
        if pullspec in self.images:
            return self.images[pullspec]
        return pullspec if "@" in pullspec else digest_reference(pullspec)

    def push(self, pullspec: str, reference: Optional[str] = None) -> str:
        """The registry now has a (new) image for ``pullspec``; scheduled tags re-import it."""
        with self.store.lock:
            previous = self.images.get(pullspec)
            new = reference or digest_reference(pullspec, str(time.time_ns()))
            if new == previous:
                new = digest_reference(pullspec, f"{time.time_ns()}+")
            self.images[pullspec] = new
            self.missing.discard(pullspec)
            self.reimport_scheduled()
            return new

    def remove(self, pullspec: str) -> None:
        """The registry no longer has ``pullspec``: imports of it fail."""
        with self.store.lock:
            self.images.pop(pullspec, None)
            self.missing.add(pullspec)

    def reimport_scheduled(self) -> None:
        with self.store.lock:
            for stream in self.store.list("imagestreams")[0]:
                for tag in (stream.get("spec") or {}).get("tags") or []:
                    if (tag.get("importPolicy") or {}).get("scheduled"):
                        self._import(stream["metadata"]["name"], tag)
            self.fire_triggers()

    # -- ImageStreams --------------------------------------------------------------------------

    def _stream(self, name: str) -> dict:
        if not self.store.exists("imagestreams", name):
            self.store.create("imagestreams", {
                "metadata": {"name": name, "generation": 1},
                "spec": {"lookupPolicy": {"local": False}, "tags": []},
                "status": {"dockerImageRepository":
                           f"{REGISTRY_SERVICE}/{self.store.namespace}/{name}"}})
        return self.store.get("imagestreams", name)

    def create_stream(self, obj: dict) -> dict:
        """POST imagestreams: defaults as OpenShift fills them in."""
        name = obj["metadata"]["name"]
        obj["metadata"].setdefault("generation", 1)
        spec = obj.setdefault("spec", {})
        spec.setdefault("lookupPolicy", {"local": False})
        obj["status"] = {"dockerImageRepository":
                         f"{REGISTRY_SERVICE}/{self.store.namespace}/{name}"}
        created = self.store.create("imagestreams", obj)
        for tag in spec.get("tags") or []:
            self._import(name, tag)
        return self.store.get("imagestreams", name) if spec.get("tags") else created

    # -- ImageStreamTags -----------------------------------------------------------------------

    def put_tag(self, name: str, obj: dict) -> tuple[int, dict]:
        """PUT/POST imagestreamtags/<is:tag>: set the spec tag and import it."""
        stream_name, sep, tag_name = name.rpartition(":")
        if not sep or not stream_name or not tag_name:
            raise ApiError(422, "Invalid", f'ImageStreamTag.image.openshift.io "{name}" is '
                           'invalid: metadata.name: Invalid value: "must be <stream>:<tag>"')
        tag = copy.deepcopy(obj.get("tag") or {})
        if not tag.get("from"):
            raise ApiError(422, "Invalid", f'ImageStreamTag.image.openshift.io "{name}" is '
                           "invalid: tag.from: Required value")
        tag["name"] = tag_name
        for key, default in (("annotations", None), ("generation", 1), ("importPolicy", {}),
                             ("referencePolicy", {"type": "Source"})):
            tag.setdefault(key, default)
        existed = self.store.exists("imagestreamtags", name)
        stream = self._stream(stream_name)

        def set_spec_tag(current: dict) -> None:
            tags = [t for t in current["spec"].get("tags") or [] if t.get("name") != tag_name]
            current["spec"]["tags"] = [*tags, tag]
        self.store.update("imagestreams", stream["metadata"]["name"], set_spec_tag)
        self._import(stream_name, tag)
        self.fire_triggers()
        if self.store.exists("imagestreamtags", name):
            return (200 if existed else 201), self.store.get("imagestreamtags", name)
        return 201, {"kind": "ImageStreamTag", "apiVersion": "image.openshift.io/v1",
                     "metadata": {"name": name, "namespace": self.store.namespace},
                     "tag": tag, "generation": 1, "lookupPolicy": {"local": False},
                     "image": {"metadata": {}}}

    def _import(self, stream_name: str, tag: dict) -> Optional[str]:
        """Import one spec tag; the new reference, or None when the import failed."""
        source = tag.get("from") or {}
        tag_id = f"{stream_name}:{tag['name']}"
        if source.get("kind") == "ImageStreamTag":
            linked = self.store.peek("imagestreamtags", source.get("name", ""))
            reference = ((linked or {}).get("image") or {}).get("dockerImageReference")
        else:
            reference = self.resolve(source.get("name", ""))
        now = rfc3339(time.time())

        def record(stream: dict) -> Optional[bool]:
            annotations = stream["metadata"].get("annotations") or {}
            annotations["openshift.io/image.dockerRepositoryCheck"] = now
            stream["metadata"]["annotations"] = annotations
            status = stream.setdefault("status", {})
            tags = status.setdefault("tags", [])
            entry = next((t for t in tags if t.get("tag") == tag["name"]), None)
            if entry is None:
                entry = {"tag": tag["name"], "items": []}
                tags.append(entry)
            if reference is None:
                entry["conditions"] = [{
                    "type": "ImportSuccess", "status": "False", "lastTransitionTime": now,
                    "reason": "NotFound", "generation": stream["metadata"].get("generation", 1),
                    "message": f"dockerimage.image.openshift.io \"{source.get('name')}\" not "
                               "found"}]
                return None
            entry.pop("conditions", None)
            items = entry.get("items") or []
            if items and items[0]["dockerImageReference"] == reference:
                return None         # the repository check time changed, the image did not
            digest = reference.rsplit("@", 1)[-1]
            entry["items"] = [{"created": now, "dockerImageReference": reference,
                               "generation": stream["metadata"].get("generation", 1),
                               "image": digest}, *items]
            return None
        self.store.update("imagestreams", stream_name, record)
        if reference is None:
            return None
        current = self.store.peek("imagestreamtags", tag_id)
        if ((current or {}).get("image") or {}).get("dockerImageReference") != reference:
            ist = imagestreamtag(tag_id, reference)
            ist["tag"] = copy.deepcopy(tag)
            if current is None:
                self.store.create("imagestreamtags", ist)
            else:
                self.store.update("imagestreamtags", tag_id, lambda obj: obj.update(
                    {k: v for k, v in ist.items() if k != "metadata"}))
        return reference

    # -- ImageStreamImport -------------------------------------------------------------------

    def import_images(self, obj: dict) -> dict:
        """POST imagestreamimports: import ``spec.images`` into the named stream (when
        ``spec.import``) and report each image as osbs-client's import_image_tags reads it."""
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        spec = obj.get("spec") or {}
        results: list[dict[str, Any]] = []
        for image in spec.get("images") or []:
            source = (image.get("from") or {}).get("name", "")
            tag_name = (image.get("to") or {}).get("name") or source.rsplit(":", 1)[-1]
            reference = self.resolve(source)
            if reference is None:
                results.append({"tag": tag_name, "status": {
                    "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404,
                    "message": f'dockerimage.image.openshift.io "{source}" not found'}})
                continue
            if spec.get("import"):
                tag = {"name": tag_name, "from": {"kind": "DockerImage", "name": source},
                       "importPolicy": image.get("importPolicy") or {},
                       "referencePolicy": image.get("referencePolicy") or {"type": "Source"}}
                self.put_tag(f"{name}:{tag_name}", {"tag": tag})
            image = imagestreamtag(f"{name}:{tag_name}", reference)["image"]
            image["metadata"].update(annotations={"image.openshift.io/dockerLayersOrder":
                                                  "ascending"}, uid=str(uuid.uuid4()))
            image["dockerImageLayers"] = []
            results.append({"tag": tag_name, "status": {"metadata": {}, "status": "Success"},
                            "image": image})
        answer = {"kind": "ImageStreamImport", "apiVersion": "image.openshift.io/v1",
                  "metadata": {"name": name, "namespace": self.store.namespace,
                               "selfLink": f"/apis/image.openshift.io/v1/namespaces/"
                                           f"{self.store.namespace}/imagestreamimports/{name}",
                               "uid": str(uuid.uuid4()),
                               "creationTimestamp": rfc3339(time.time())},
                  "spec": spec, "status": {"images": results}}
        if spec.get("import"):
            answer["status"]["import"] = self._stream(name)
        return answer
