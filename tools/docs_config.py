"""Render the configuration reference (docs/configuration.md) and the sample files in conf/.

Keys, defaults and help texts come from ``config``'s own tables; every error message quoted is
produced by running the real loaders on broken input. tests/test_docs.py compares the committed
files with this output, so a key added to the code without documentation (or documented without
existing) fails the tests. Regenerate with::

    python -m tools.docs_config > docs/configuration.md
    python -m tools.docs_config --sample hub > conf/hub_containerbuild.conf
    python -m tools.docs_config --sample builder > conf/builder_containerbuild.conf
    python -m tools.docs_config --sample osbs > conf/osbs.conf.example
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

from koji_containerbuild import config
from koji_containerbuild.cli import commands as cli
from tools.docs_config_errors import (
    DocsDrift,
    cli_errors,
    osbs_conf_errors,
    osbs_unknown_key_warning,
    plugin_file_errors,
    scm_errors,
    submit_errors,
)
from tools.docs_config_text import (
    _BUILDER,
    _CLI,
    _HUB,
    _INTRO,
    _KOJID,
    _OSBS,
    CLI_PROFILE_KEYS,
    EXAMPLE_OSBS_CONF,
    KOJID_OPTIONS,
    OSBS_IGNORED_GROUPS,
    OSBS_KEY_DOCS,
)


def _code(value: str) -> str:
    return f"`{value}`"


def _default_text(value: Any) -> str:
    if value is None or value == "" or value == ():
        return "(empty)"
    if isinstance(value, bool):
        return _code(str(value).lower())
    if isinstance(value, float) and value.is_integer():
        return _code(str(int(value)))
    if isinstance(value, tuple):
        return _code(" ".join(value))
    return _code(str(value))


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def _type_of(convert: Callable[[str], Any]) -> str:
    if convert is config.parse_bool:
        return "boolean"
    if convert is str:
        return "string"
    return "integer"


# --------------------------------------------------------------------------- tables


def _instance_defaults() -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(config.OsbsInstance)
            if f.default is not dataclasses.MISSING}


def osbs_instance_table() -> str:
    """Every instance key osbs.conf may hold, with type, default and meaning."""
    documented, known = set(OSBS_KEY_DOCS), set(config.OSBS_INSTANCE_KEYS)
    if documented != known:
        raise DocsDrift(f"osbs.conf keys without docs: {sorted(known - documented)}; "
                        f"documented but not read: {sorted(documented - known)}")
    defaults = _instance_defaults()
    rows = []
    for key, spec in config.OSBS_INSTANCE_KEYS.items():
        override, meaning = OSBS_KEY_DOCS[key]
        attr = spec.attr if spec.attr is not None else key
        if override is not None:
            default = override or "(empty)"
        else:
            default = _default_text(defaults.get(attr))
        kind = "path" if spec.attr == "" else _type_of(spec.convert)
        rows.append([_code(key), kind, default, meaning])
    return _table(["key", "type", "default", "meaning"], rows)


def osbs_ignored_table() -> str:
    """Keys accepted for compatibility that change nothing, grouped by why."""
    grouped = frozenset().union(*(keys for _, keys in OSBS_IGNORED_GROUPS))
    if grouped != config.OSBS_IGNORED_KEYS:
        raise DocsDrift(
            f"ignored osbs.conf keys without docs: {sorted(config.OSBS_IGNORED_KEYS - grouped)}"
            f"; documented but not ignored: {sorted(grouped - config.OSBS_IGNORED_KEYS)}")
    rows = [[", ".join(_code(key) for key in sorted(keys)), why]
            for why, keys in OSBS_IGNORED_GROUPS]
    return _table(["keys", "why they are accepted and ignored"], rows)


def settings_table(settings: Iterable[config.Setting]) -> str:
    rows = [[_code(f"[{s.section}]"), _code(s.key), _default_text(s.default), s.help]
            for s in settings]
    return _table(["section", "key", "default", "meaning"], rows)


def sample_plugin_file(settings: Iterable[config.Setting], title: str) -> str:
    """A plugin file listing every key at its default, with its help as a comment."""
    lines = [f"# {title}", "# Every key with its default value; see docs/configuration.md."]
    section = None
    for setting in settings:
        if setting.section != section:
            section = setting.section
            lines += ["", f"[{section}]"]
        for chunk in _wrap(setting.help, 96):
            lines.append(f"# {chunk}")
        default = setting.default
        if isinstance(default, tuple):
            default = " ".join(default)
        elif isinstance(default, float) and default.is_integer():
            default = int(default)
        lines.append(f"{setting.key} = {default}".rstrip())
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int) -> Iterator[str]:
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            yield line
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        yield line


# --------------------------------------------------------------------------- real errors


def _error_table(rows: Iterable[tuple[str, str]]) -> str:
    return _table(["when", "what the task (or command) reports"],
                  ([situation, _code(message)] for situation, message in rows))


# --------------------------------------------------------------------------- the document

def render_configuration() -> str:
    """The whole of docs/configuration.md."""
    paths = {"osbs_conf": config.OSBS_CONF, "builder_conf": config.BUILDER_PLUGIN_CONF,
             "hub_conf": config.HUB_PLUGIN_CONF, "sa_dir": config.SERVICE_ACCOUNT_DIR}
    parts = [
        _INTRO.format(**paths),
        _OSBS.format(**paths, instance_table=osbs_instance_table(),
                     ignored_table=osbs_ignored_table(),
                     unknown_warning=osbs_unknown_key_warning(), example=EXAMPLE_OSBS_CONF,
                     load_errors=_error_table(osbs_conf_errors()),
                     submit_errors=_error_table(submit_errors())),
        _BUILDER.format(**paths, builder_table=settings_table(config.BUILDER_SETTINGS),
                        builder_sample=render_sample("builder")),
        _HUB.format(**paths, hub_table=settings_table(config.HUB_SETTINGS),
                    hub_sample=render_sample("hub"),
                    plugin_errors=_error_table(plugin_file_errors())),
        _KOJID.format(kojid_table=_table(
            ["option", "kojid default", "what the plugin does with it"],
            ([_code(key), default, use] for key, default, use in KOJID_OPTIONS)),
            scm_errors=_error_table(scm_errors())),
        _CLI.format(cli_table=_table(
            ["key", "owner", "use"],
            ([_code(key), owner, use] for key, owner, use in CLI_PROFILE_KEYS)),
            template_key=cli.PROFILE_TEMPLATE_KEY, cli_errors=_error_table(cli_errors())),
    ]
    return "\n".join(parts)


def render_sample(kind: str) -> str:
    """A sample configuration file: ``hub``, ``builder`` or ``osbs``."""
    if kind == "hub":
        return sample_plugin_file(config.HUB_SETTINGS, config.HUB_PLUGIN_CONF)
    if kind == "builder":
        return sample_plugin_file(config.BUILDER_SETTINGS, config.BUILDER_PLUGIN_CONF)
    if kind == "osbs":
        return EXAMPLE_OSBS_CONF
    raise ValueError(f"unknown sample {kind!r}: hub, builder or osbs")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", choices=("hub", "builder", "osbs"),
                        help="print a sample configuration file instead of the reference")
    args = parser.parse_args(argv)
    text = render_sample(args.sample) if args.sample else render_configuration()
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
