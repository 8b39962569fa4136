"""osbs.conf is read as osbs-client 1.10 reads it; the plugin files refuse unknown keys."""

from __future__ import annotations

import textwrap

import pytest

from koji_containerbuild import config
from koji_containerbuild.config import ConfigError, load_osbs_instance

OSBS_CONF = """\
[general]
build_json_dir = /usr/share/osbs/

[default]
openshift_url = https://osbs.example.com:8443/
namespace = worker
build_from = image:registry.example.com/buildroot:latest
reactor_config_map = reactor-config-map
can_orchestrate = true
verify_ssl = 1
cpu_limit = 500m
memory_limit = 2Gi
orchestrator_max_run_hours = 6
token = default-secret-token
node_selector.x86_64 = beta.kubernetes.io/arch=amd64
username = ignored

[scratch]
openshift_uri = https://osbs-scratch.example.com/
build_from = imagestream:buildroot:latest
reactor_config_map = reactor-config-map-scratch
can_orchestrate = TRUE
verify_ssl = yes
use_auth = 0
scratch = true
"""


@pytest.fixture
def conf(tmp_path):
    def write(text: str = OSBS_CONF):
        path = tmp_path / "osbs.conf"
        path.write_text(textwrap.dedent(text))
        return str(path)

    return write


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return str(path)


def test_default_section_for_regular_builds(conf, home):
    inst = load_osbs_instance(scratch=False, path=conf(), home=home)
    assert inst.section == "default"
    assert inst.openshift_url == "https://osbs.example.com:8443/"
    assert inst.namespace == "worker"
    assert inst.build_json_dir == "/usr/share/osbs/"
    assert inst.build_from == "image:registry.example.com/buildroot:latest"
    assert inst.can_orchestrate is True
    assert inst.verify_ssl is True and inst.verify is True
    assert (inst.cpu_limit, inst.memory_limit, inst.storage_limit) == ("500m", "2Gi", None)
    assert inst.orchestrator_max_run_hours == 6
    assert inst.worker_max_run_hours == 3  # osbs-client default
    assert inst.arrangement_version == 6
    assert inst.token == "default-secret-token" and inst.use_auth is True


def test_scratch_section_for_scratch_builds_with_osbs_boolean_rules(conf, home):
    inst = load_osbs_instance(scratch=True, path=conf(), home=home)
    assert inst.section == "scratch"
    assert inst.openshift_url == "https://osbs-scratch.example.com/"  # deprecated alias
    assert inst.namespace == "default"
    assert inst.can_orchestrate is True  # 'TRUE' is true
    assert inst.verify_ssl is False  # 'yes' is not 'true' and not an int: false, as osbs-client
    assert inst.verify is False
    assert inst.use_auth is False and inst.token is None
    assert inst.scratch is True


def test_token_never_in_repr(conf, home):
    inst = load_osbs_instance(path=conf(), home=home)
    assert "default-secret-token" not in repr(inst)


def test_token_file_is_read_when_no_token(conf, home, tmp_path):
    token_file = tmp_path / "tok"
    token_file.write_text("from-file\n")
    text = OSBS_CONF.replace("token = default-secret-token", f"token_file = {token_file}")
    assert load_osbs_instance(path=conf(text), home=home).token == "from-file"


def test_token_wins_over_token_file(conf, home, tmp_path):
    token_file = tmp_path / "tok"
    token_file.write_text("from-file")
    text = OSBS_CONF.replace("token = default-secret-token",
                             f"token = inline\ntoken_file = {token_file}")
    assert load_osbs_instance(path=conf(text), home=home).token == "inline"


def test_instance_token_file_in_home_is_the_last_configured_source(conf, home, tmp_path):
    (tmp_path / "home" / ".osbs").mkdir()
    (tmp_path / "home" / ".osbs" / "default.token").write_text("home-token")
    text = OSBS_CONF.replace("token = default-secret-token\n", "")
    inst = load_osbs_instance(path=conf(text), home=home)
    assert inst.token == "home-token" and inst.use_auth is True
    token_file = tmp_path / "tok"
    token_file.write_text("from-file")
    text = OSBS_CONF.replace("token = default-secret-token", f"token_file = {token_file}")
    assert load_osbs_instance(path=conf(text), home=home).token == "from-file"


def test_service_account_token_and_ca_when_use_auth_is_unset(conf, home, tmp_path):
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("pod-token")
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----")
    text = OSBS_CONF.replace("token = default-secret-token\n", "")
    inst = load_osbs_instance(path=conf(text), home=home, service_account_dir=str(sa))
    assert inst.token == "pod-token"
    assert inst.verify == str(sa / "ca.crt")
    scratch = load_osbs_instance(scratch=True, path=conf(text), home=home,
                                 service_account_dir=str(sa))
    assert scratch.token is None  # use_auth = 0 there


def test_use_auth_without_any_token_is_a_clear_error(conf, home):
    text = OSBS_CONF.replace("token = default-secret-token", "use_auth = true")
    with pytest.raises(ConfigError, match=r"\[default\] use_auth is on but no token"):
        load_osbs_instance(path=conf(text), home=home, service_account_dir="/nonexistent")


def test_missing_build_json_dir(conf, home):
    with pytest.raises(ConfigError, match=r"osbs.conf: \[general\] build_json_dir is mandatory"):
        load_osbs_instance(path=conf(OSBS_CONF.replace("build_json_dir = /usr/share/osbs/", "")),
                           home=home)


def test_missing_openshift_url(conf, home):
    text = OSBS_CONF.replace("openshift_url = https://osbs.example.com:8443/\n", "")
    with pytest.raises(ConfigError, match=r"\[default\] openshift_url is mandatory"):
        load_osbs_instance(path=conf(text), home=home)


def test_missing_scratch_section_names_it(conf, home):
    text = OSBS_CONF.split("[scratch]")[0]
    with pytest.raises(ConfigError, match=r"section \[scratch\] is missing \(scratch builds"):
        load_osbs_instance(scratch=True, path=conf(text), home=home)


@pytest.mark.parametrize("old,new,message", [
    ("orchestrator_max_run_hours = 6", "orchestrator_max_run_hours = four",
     r"\[default\] orchestrator_max_run_hours: 'four'"),
    ("namespace = worker", "arrangement_version = 5",
     r"arrangement_version: 5 is no longer supported"),
    ("openshift_url = https://osbs.example.com:8443/", "openshift_url = osbs.example.com",
     r"openshift_url: 'osbs.example.com' is not an http"),
    ("namespace = worker", "client_cert = /etc/cert.pem",
     r"client_cert and client_key must be set together"),
])
def test_bad_values_name_file_section_and_key(conf, home, old, new, message):
    text = OSBS_CONF.replace(old, new)
    with pytest.raises(ConfigError, match=message) as info:
        load_osbs_instance(path=conf(text), home=home)
    assert str(info.value).startswith(conf(text))


def test_keys_osbs_client_ignores_are_warned_about_not_refused(conf, home, caplog):
    text = OSBS_CONF.replace("namespace = worker", "namespace = worker\nregistry_uri = https://r/")
    inst = load_osbs_instance(path=conf(text), home=home)
    assert inst.namespace == "worker"
    assert "[default] registry_uri: not used by osbs-client 1.10" in caplog.text


def test_unreadable_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_osbs_instance(path=str(tmp_path / "missing.conf"))
    bad = tmp_path / "bad.conf"
    bad.write_text("no section header\n")
    with pytest.raises(ConfigError, match="not a valid INI file"):
        load_osbs_instance(path=str(bad))


def test_percent_signs_survive(conf, home):
    text = OSBS_CONF.replace("token = default-secret-token", "token = a%b%%c")
    assert load_osbs_instance(path=conf(text), home=home).token == "a%b%%c"


def test_client_certificate_pair(conf, home):
    text = OSBS_CONF.replace("namespace = worker",
                             "namespace = worker\nclient_cert = /c.pem\nclient_key = /k.pem")
    assert load_osbs_instance(path=conf(text), home=home).cert == ("/c.pem", "/k.pem")


# --------------------------------------------------------------------------- plugin files

def test_plugin_files_are_optional_and_defaults_apply(tmp_path):
    hub = config.load_hub_settings(str(tmp_path / "absent.conf"))
    assert hub == {"build_permission": "", "image_channel": "container",
                   "source_channel": "container"}
    builder = config.load_builder_settings(str(tmp_path / "absent.conf"))
    assert builder["osbs_conf"] == "/etc/osbs.conf"
    assert builder["yum_repo_hosts"] == ()


def test_builder_settings_are_converted(tmp_path):
    path = tmp_path / "builder.conf"
    path.write_text("[allowlists]\nyum_repo_hosts = a.example.org, b.example.org c\n"
                    "[tasks]\npending_timeout = 90\n")
    values = config.load_builder_settings(str(path))
    assert values["yum_repo_hosts"] == ("a.example.org", "b.example.org", "c")
    assert values["pending_timeout"] == 90.0


@pytest.mark.parametrize("text,message", [
    ("[tasks]\ntask_wieght = 1\n", r"\[tasks\] task_wieght: unknown key"),
    ("[osbs]\npending_timeout = 1\n", r"\[osbs\] pending_timeout: unknown key"),
    ("[tasks]\npending_timeout = soon\n", r"\[tasks\] pending_timeout: 'soon' is not a valid"),
])
def test_builder_settings_refuse_unknown_keys_and_bad_values(tmp_path, text, message):
    path = tmp_path / "builder.conf"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load_builder_settings(str(path))


@pytest.mark.parametrize("line,verbose", [("", False), ("verbose = true\n", True),
                                          ("verbose = 1\n", True), ("verbose = yes\n", False)])
def test_general_verbose_follows_osbs_client_booleans(conf, home, line, verbose):
    text = OSBS_CONF.replace("[general]\n", f"[general]\n{line}")
    assert load_osbs_instance(path=conf(text), home=home).verbose is verbose
