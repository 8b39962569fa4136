"""The values osbs-client 1.10 reads from the reactor ConfigMap at submit time (contract §3.4).

The ConfigMap (`config.yaml`) belongs to atomic-reactor; the Koji side only needs a handful of
keys to render a build. Every complaint names the ConfigMap and the osbs.conf key that chose it,
because that is where an administrator has to look.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from koji_containerbuild.config import OsbsInstance
from koji_containerbuild.openshift import names
from koji_containerbuild.openshift.user_params import BuildRequestError

SECRETS_PATH = "/var/run/secrets/atomic-reactor"


class ReactorConfig:
    """A parsed reactor ConfigMap plus the osbs.conf instance that named it."""

    def __init__(self, instance: OsbsInstance, data: Any) -> None:
        if not instance.reactor_config_map:
            raise BuildRequestError(
                f"{instance.conf_file} [{instance.section}] reactor_config_map is not set; builds "
                "need the reactor ConfigMap (source_registry, secrets, koji settings)")
        self.instance = instance
        self.where = (f"reactor ConfigMap {instance.reactor_config_map!r} (key config.yaml, named "
                      f"by {instance.conf_file} [{instance.section}] reactor_config_map)")
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise BuildRequestError(f"the {self.where} is not a YAML mapping")
        self.data: Mapping[str, Any] = data

    def _names(self, key: str) -> list[str]:
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise BuildRequestError(f"{key} in the {self.where} must be a list of names")
        return value

    def source_registry(self) -> str:
        """The source registry's host[:port]; mandatory for image builds."""
        entry = self.data.get("source_registry")
        if not entry:
            raise BuildRequestError(
                'mandatory "source_registry" is not defined in reactor_config: '
                f"add source_registry.url to the {self.where}")
        url = entry.get("url") if isinstance(entry, Mapping) else None
        if not isinstance(url, str) or not url:
            raise BuildRequestError(f"source_registry.url is missing in the {self.where}")
        try:
            return names.registry_host(url)
        except names.InvalidNameError as exc:
            raise BuildRequestError(f"source_registry.url in the {self.where}: {exc}") from None

    def organization(self) -> Optional[str]:
        value = self.data.get("registries_organization")
        if value is not None and not isinstance(value, str):
            raise BuildRequestError(f"registries_organization in the {self.where} must be a string")
        return value or None

    def base_image_registry(self, base_image: str, source_registry: str) -> str:
        """The registry a parent image comes from: the source registry unless FROM names one.

        A registry named in the Dockerfile must be the source registry or one of
        pull_registries; atomic-reactor refuses others later anyway, so we say it up front.
        """
        explicit = names.ImageReference.parse(base_image).registry
        if not explicit:
            return source_registry
        allowed = [source_registry]
        for entry in self.data.get("pull_registries") or []:
            url = (entry.get("url") or entry.get("uri")) if isinstance(entry, Mapping) else None
            if isinstance(url, str):
                try:
                    allowed.append(names.registry_host(url))
                except names.InvalidNameError:
                    continue
        if explicit not in allowed:
            raise BuildRequestError(
                f"the Dockerfile's FROM {base_image!r} names registry {explicit!r}, which is "
                f"neither source_registry nor in pull_registries of the {self.where}")
        return explicit

    def registry_insecure(self, registry: str, source_registry: str) -> bool:
        """``insecure`` of the source registry or of the pull_registries entry for ``registry``
        (osbs-client sets it on the parent image's ImageStreamTag import policy)."""
        entries: list[Any] = []
        if registry == source_registry:
            entries.append(self.data.get("source_registry"))
        entries.extend(self.data.get("pull_registries") or [])
        for entry in entries:
            url = (entry.get("url") or entry.get("uri")) if isinstance(entry, Mapping) else None
            try:
                host = names.registry_host(url) if isinstance(url, str) else None
            except names.InvalidNameError:
                continue
            if host == registry:
                return bool(entry.get("insecure", False))
        return False

    def flatpak_base_image(self) -> str:
        flatpak = self.data.get("flatpak")
        base_image = flatpak.get("base_image") if isinstance(flatpak, Mapping) else None
        if not isinstance(base_image, str) or not base_image:
            # Said to a packager: no builder-side file paths, just where each of them can set it.
            raise BuildRequestError(
                "Flatpak base_image must be set in the repository's container.yaml "
                "(flatpak: base_image: <pull spec>) or, by the Koji admins, in the reactor "
                f"ConfigMap {self.instance.reactor_config_map!r} (flatpak.base_image)")
        return base_image

    def secret_mounts(self, orchestrator: bool) -> list[dict]:
        """required_secrets (+ worker_token_secrets for orchestrators) as customStrategy secrets.

        osbs-client iterates a set, so its order is arbitrary; we sort by name for stable JSON.
        """
        wanted = self._names("required_secrets")
        if orchestrator:
            wanted = wanted + self._names("worker_token_secrets")
        return [{"secretSource": {"name": name}, "mountPath": f"{SECRETS_PATH}/{name}"}
                for name in sorted(set(wanted))]

    def strategy_env(self, user_params: str, existing: Sequence[dict] = ()) -> list[dict]:
        """``existing`` (a site template's env), REACTOR_CONFIG from the ConfigMap, USER_PARAMS,
        then the reactor's build_env_vars, which may not repeat a name already set."""
        env: list[dict] = [
            *existing,
            {"name": "REACTOR_CONFIG",
             "valueFrom": {"configMapKeyRef": {"name": self.instance.reactor_config_map,
                                               "key": "config.yaml"}}},
            {"name": "USER_PARAMS", "value": user_params},
        ]
        extra = self.data.get("build_env_vars") or []
        if not isinstance(extra, list):
            raise BuildRequestError(f"build_env_vars in the {self.where} must be a list")
        for entry in extra:
            name = entry.get("name") if isinstance(entry, Mapping) else None
            if not isinstance(name, str) or not name:
                raise BuildRequestError(
                    f"build_env_vars in the {self.where}: every entry needs a name")
            if any(item.get("name") == name for item in env):
                raise BuildRequestError(
                    "Cannot set environment variable from reactor config (already exists): "
                    f"{name}; fix build_env_vars in the {self.where}")
            value = entry.get("value")
            # OpenShift wants strings; YAML may have parsed a number or boolean.
            env.append({"name": name, "value": "" if value is None else str(value)})
        return env

    def source_container_requests(self) -> dict[str, str]:
        """spec.resources.requests for source builds from source_container.*_request."""
        section = self.data.get("source_container")
        if not isinstance(section, Mapping):
            return {}
        return {key: str(section[src]) for key, src in
                (("cpu", "cpu_request"), ("memory", "memory_request")) if section.get(src)}
