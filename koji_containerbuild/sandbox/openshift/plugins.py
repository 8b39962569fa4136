"""The plugin list atomic-reactor runs, as it reads it inside the build pod (for the simulator).

atomic-reactor (through osbs-client's ``PluginsConfiguration``) loads the inner template
``<build_type>_inner:<arrangement_version>.json`` (``orchestrator_sources_inner:…`` for
source builds) from the ``build_json_dir`` in USER_PARAMS and applies the customize file named
by ``customize_conf``: ``disable_plugins`` removes the first plugin of that name from its
phase, ``enable_plugins`` sets the args of a listed plugin or appends it. Only the parts that
decide *which* plugins run are imitated; the simulator's pod sees the host's files.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

PHASES = ("prebuild_plugins", "buildstep_plugins", "postbuild_plugins", "prepublish_plugins",
          "exit_plugins")


def _load(path: str) -> Optional[Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def inner_template_name(user_params: dict) -> str:
    version = user_params.get("arrangement_version") or 6
    if user_params.get("kind") == "source_containers_user_params":
        return f"orchestrator_sources_inner:{version}.json"
    return f"{user_params.get('build_type') or 'orchestrator'}_inner:{version}.json"


def plugin_configuration(user_params: dict) -> Optional[dict[str, list[dict]]]:
    """The customised inner template, or None when ``build_json_dir`` has none."""
    directory = user_params.get("build_json_dir")
    if not isinstance(directory, str) or not directory:
        return None
    template = _load(os.path.join(directory, inner_template_name(user_params)))
    if not isinstance(template, dict):
        return None
    config = {phase: [p for p in template.get(phase) or [] if isinstance(p, dict)]
              for phase in PHASES}
    customize_name = user_params.get("customize_conf")
    customize = _load(os.path.join(directory, customize_name)) if customize_name else None
    if not isinstance(customize, dict):
        return config
    for rule in customize.get("disable_plugins") or []:
        plugins = config.get(rule.get("plugin_type")) if isinstance(rule, dict) else None
        if plugins is None:
            continue        # osbs-client logs "Invalid custom configuration" and goes on
        for plugin in plugins:
            if plugin.get("name") == rule.get("plugin_name"):
                plugins.remove(plugin)
                break
    for rule in customize.get("enable_plugins") or []:
        plugins = config.get(rule.get("plugin_type")) if isinstance(rule, dict) else None
        if plugins is None or "plugin_name" not in rule or "plugin_args" not in rule:
            continue
        listed = [p for p in plugins if p.get("name") == rule["plugin_name"]]
        for plugin in listed:
            plugin["args"] = rule["plugin_args"]
        if not listed:
            plugins.append({"name": rule["plugin_name"], "args": rule["plugin_args"]})
    return config


def plugin_names(config: Optional[dict[str, list[dict]]], phase: str,
                 default: list[str]) -> list[str]:
    if config is None:
        return list(default)
    return [plugin["name"] for plugin in config.get(phase) or [] if plugin.get("name")]
