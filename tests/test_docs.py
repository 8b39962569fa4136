"""The documentation is true to the code: generated parts are current, quoted messages exist,
every module is described, and the drift checks really catch a key added without docs."""

from __future__ import annotations

import ast
import dataclasses
import functools
import itertools
import re
from pathlib import Path

import pytest

import koji_containerbuild
from koji_containerbuild import config
from koji_containerbuild.cli import commands as cli
from tools import docs_config

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "koji_containerbuild"
TOOLS = REPO / "tools"
REGENERATE = "regenerate with: python -m tools.docs_config"


# --------------------------------------------------------------------------- generated files


def test_configuration_reference_is_what_the_code_renders():
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == docs_config.render_configuration(), (
        f"docs/configuration.md is stale; {REGENERATE} > docs/configuration.md")


@pytest.mark.parametrize("kind,path", [
    ("hub", "conf/hub_containerbuild.conf"),
    ("builder", "conf/builder_containerbuild.conf"),
    ("osbs", "conf/osbs.conf.example"),
])
def test_sample_files_are_what_the_code_renders(kind, path):
    committed = (REPO / path).read_text(encoding="utf-8")
    assert committed == docs_config.render_sample(kind), (
        f"{path} is stale; {REGENERATE} --sample {kind} > {path}")


@pytest.mark.parametrize("path,loader,settings", [
    ("conf/hub_containerbuild.conf", config.load_hub_settings, config.HUB_SETTINGS),
    ("conf/builder_containerbuild.conf", config.load_builder_settings,
     config.BUILDER_SETTINGS),
])
def test_installing_a_sample_plugin_file_changes_nothing(path, loader, settings):
    """The RPM installs these as %config: with them in place, every setting is its default."""
    assert loader(str(REPO / path)) == {s.key: s.default for s in settings}


def test_example_osbs_conf_gives_working_default_and_scratch_instances(tmp_path):
    token = tmp_path / "token"
    token.write_text("sekrit\n")
    conf = tmp_path / "osbs.conf"
    conf.write_text((REPO / "conf" / "osbs.conf.example").read_text()
                    .replace("/etc/osbs/kojid.token", str(token)))
    for scratch, config_map in ((False, "reactor-config-map"),
                                (True, "reactor-config-map-scratch")):
        instance = config.load_osbs_instance(scratch=scratch, path=str(conf), home=str(tmp_path),
                                             service_account_dir=str(tmp_path / "none"))
        assert instance.can_orchestrate and instance.use_auth
        assert instance.token == "sekrit"
        assert instance.reactor_config_map == config_map
        assert instance.build_from == "imagestream:buildroot:latest"


# --------------------------------------------------------------------------- drift is caught


def test_an_osbs_key_added_to_the_code_without_docs_fails_the_reference(monkeypatch):
    keys = dict(config.OSBS_INSTANCE_KEYS, pull_secret=config.OSBS_INSTANCE_KEYS["namespace"])
    monkeypatch.setattr(config, "OSBS_INSTANCE_KEYS", keys)
    with pytest.raises(docs_config.DocsDrift, match="pull_secret"):
        docs_config.render_configuration()


def test_an_osbs_key_documented_but_no_longer_read_fails_the_reference(monkeypatch):
    keys = {k: v for k, v in config.OSBS_INSTANCE_KEYS.items() if k != "storage_limit"}
    monkeypatch.setattr(config, "OSBS_INSTANCE_KEYS", keys)
    with pytest.raises(docs_config.DocsDrift, match="storage_limit"):
        docs_config.render_configuration()


def test_an_ignored_osbs_key_without_a_reason_fails_the_reference(monkeypatch):
    monkeypatch.setattr(config, "OSBS_IGNORED_KEYS", config.OSBS_IGNORED_KEYS | {"koji_hub"})
    with pytest.raises(docs_config.DocsDrift, match="koji_hub"):
        docs_config.render_configuration()


def test_a_plugin_setting_added_to_the_code_changes_the_rendered_reference(monkeypatch):
    extra = config.Setting("tasks", "max_builds", 4, int, "Builds at once.")
    monkeypatch.setattr(config, "BUILDER_SETTINGS", (*config.BUILDER_SETTINGS, extra))
    rendered = docs_config.render_configuration()
    assert "| `[tasks]` | `max_builds` | `4` | Builds at once. |" in rendered
    assert rendered != (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")


def test_every_instance_default_in_the_reference_is_the_dataclass_default():
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for field in dataclasses.fields(config.OsbsInstance):
        if field.name in config.OSBS_INSTANCE_KEYS and isinstance(field.default, int) \
                and not isinstance(field.default, bool):
            assert f"| `{field.name}` | integer | `{field.default}` |" in text


def _options_read_from_kojid() -> set[str]:
    pattern = re.compile(r"getattr\(\s*(?:task\.)?options\s*,\s*['\"](\w+)['\"]")
    found: set[str] = set()
    for path in LIBRARY.rglob("*.py"):
        found |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_the_kojid_options_documented_are_the_ones_the_builder_reads():
    documented = {name for name, _, _ in docs_config.KOJID_OPTIONS}
    read = _options_read_from_kojid()
    assert read, "no kojid option reads found: the pattern no longer matches the code"
    assert read <= documented, f"read but not documented: {sorted(read - documented)}"
    # workdir comes through koji's task handler (task.workdir), not getattr(options, ...)
    assert documented - read == {"workdir"}
    assert "task.workdir" in (LIBRARY / "builder" / "tasks.py").read_text(encoding="utf-8")


def test_the_cli_profile_key_documented_is_the_one_the_cli_reads():
    assert cli.PROFILE_TEMPLATE_KEY in {key for key, _, _ in docs_config.CLI_PROFILE_KEYS}
    assert "profile_setting(goptions, PROFILE_TEMPLATE_KEY)" in (
        LIBRARY / "cli" / "commands.py").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- quoted messages


def _code_strings() -> list[str]:
    """Every string literal of the library (f-string parts included), whitespace collapsed;
    the sandbox and the documentation renderer are not the plugins' voice."""
    strings = []
    for path in [*LIBRARY.rglob("*.py"), *TOOLS.glob("*.py")]:
        if "sandbox" in path.parts or path.name == "docs_config.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.append(" ".join(node.value.split()))
    return strings


PLACEHOLDER = re.compile(r"<[^<>]*>")
PUNCTUATION = " .,;:()"
LITERALS = tuple({text.strip(PUNCTUATION) for text in _code_strings()} - {""})
WHOLE_LITERALS = frozenset(LITERALS)


@functools.cache
def _fits(piece: str, index: int, count: int) -> bool:
    """A piece quoted alone may sit anywhere in a literal; pieces that together span several
    literals must end the first literal, be whole middle literals (of three words at least, so
    that filler like "the" cannot glue made-up text together), and start the last one."""
    if count == 1:
        return any(piece in text for text in LITERALS)
    if index == 0:
        return any(text.endswith(piece) for text in LITERALS)
    if index == count - 1:
        return any(text.startswith(piece) for text in LITERALS)
    return piece in WHOLE_LITERALS and len(piece.split()) >= 3


def _part_from_code(words: list[str], max_pieces: int) -> bool:
    for count in range(1, min(max_pieces, len(words)) + 1):
        for cuts in itertools.combinations(range(1, len(words)), count - 1):
            bounds = (0, *cuts, len(words))
            pieces = [" ".join(words[a:b]).strip(PUNCTUATION) for a, b in zip(bounds, bounds[1:])]
            if all(not piece or _fits(piece, i, count) for i, piece in enumerate(pieces)):
                return True
    return False


def quoted_from_code(line: str, max_pieces: int = 3) -> bool:
    """True when the literal parts of ``line`` (``<...>`` varies) are in the code's strings.

    A part between placeholders may span up to ``max_pieces`` string literals: an f-string's
    pieces, or a message and the prefix another function puts around it."""
    return all(_part_from_code(part.split(), max_pieces)
               for part in PLACEHOLDER.split(line) if part.strip(PUNCTUATION))


def _text_blocks(markdown: str) -> list[str]:
    return [line for block in re.findall(r"```text\n(.*?)```", markdown, re.S)
            for line in block.splitlines() if line.strip()]


def test_the_message_check_rejects_made_up_messages():
    assert quoted_from_code("Image build failed. <reason>. OSBS build id: <build>")
    assert not quoted_from_code("Image build exploded. OSBS build id: <build>")
    assert not quoted_from_code("The registry is on fire; call <someone>")
    assert not quoted_from_code("Cancelled the OpenShift build <build>")
    assert not quoted_from_code("Leaving OpenShift build <build> running: the task will be re-run")


def test_every_message_quoted_in_the_operations_guide_is_in_the_code():
    lines = _text_blocks((REPO / "docs" / "operations.md").read_text(encoding="utf-8"))
    assert len(lines) > 20
    missing = [line for line in lines if not quoted_from_code(line)]
    assert not missing, "quoted in docs/operations.md but not in the code:\n" + "\n".join(missing)


def test_operations_guide_names_the_selflink_line_the_monitor_writes():
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "openshift_build_selflink: <API path of the build>" in text
    assert '"openshift_build_selflink: %s"' in (LIBRARY / "builder" / "monitor.py").read_text()


# --------------------------------------------------------------------------- architecture


def _architecture_rows() -> dict[str, tuple[bool, bool]]:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = {}
    for match in re.finditer(r"^\| `([^`]+)` \| [^|]+ \| (yes)? *\| (yes)? *\|$", text, re.M):
        rows[match[1]] = (bool(match[2]), bool(match[3]))
    return rows


def _module_path(entry: str) -> Path:
    if entry.split("/")[0] in ("hub_plugin", "builder_plugin", "cli_plugin", "tools"):
        return REPO / entry
    return LIBRARY / entry


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_architecture_describes_every_module_and_nothing_else():
    rows = _architecture_rows()
    listed = {entry for entry in rows if entry.endswith(".py")}
    modules = {str(p.relative_to(LIBRARY)) for p in LIBRARY.rglob("*.py")
               if p.name != "__init__.py" and "sandbox" not in p.parts}
    plugins = {str(p.relative_to(REPO)) for d in ("hub_plugin", "builder_plugin", "cli_plugin")
               for p in (REPO / d).glob("*.py")}
    tools = {str(p.relative_to(REPO)) for p in TOOLS.glob("*.py") if p.name != "__init__.py"}
    assert listed == modules | plugins | tools
    assert "sandbox/" in rows and (LIBRARY / "sandbox").is_dir()


def test_architecture_koji_and_http_columns_match_the_imports():
    for entry, (knows_koji, speaks_http) in _architecture_rows().items():
        if not entry.endswith(".py"):
            continue
        imports = _top_level_imports(_module_path(entry))
        assert knows_koji == bool(imports & {"koji", "koji_cli", "kojihub"}), entry
        assert speaks_http == bool(imports & {"requests", "urllib3"}), entry


# --------------------------------------------------------------------------- README, links


def test_readme_starts_with_the_demo_and_test_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(
        "```sh\n"
        "make demo    # the local sandbox: a real container build through all three plugins, "
        "end to end\n"
        "make test    # creates .venv from scratch, runs ruff and the whole test suite\n"
        "```\n")


def test_readme_enables_the_plugins_under_their_file_names():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    [hub] = re.findall(r"^\s*Plugins = (\w+)$", readme, re.M)
    [builder] = re.findall(r"^\s*plugins = (\w+)$", readme, re.M)
    assert (REPO / "hub_plugin" / f"{hub}.py").is_file()
    assert (REPO / "builder_plugin" / f"{builder}.py").is_file()
    for path in (config.OSBS_CONF, config.HUB_PLUGIN_CONF, config.BUILDER_PLUGIN_CONF,
                 cli.PROFILE_TEMPLATE_KEY):
        assert path in readme


@pytest.mark.parametrize("doc", ["README.md", "CHANGELOG.md", "docs/operations.md",
                                 "docs/architecture.md", "docs/configuration.md"])
def test_relative_links_point_to_existing_files(doc):
    path = REPO / doc
    for target in re.findall(r"\]\(([^)#]+)\)", path.read_text(encoding="utf-8")):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{doc} links to missing {target}"


def test_changelog_has_an_entry_for_the_package_version():
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [{koji_containerbuild.__version__}]" in changelog
