"""The CLI logic in process: refusals before any hub call, and result printing."""

from __future__ import annotations

import optparse

import pytest

from koji_containerbuild import options
from koji_containerbuild.cli import commands as cli


@pytest.fixture(autouse=True)
def program_name(monkeypatch):
    """optparse names the program after argv[0], as it does under the koji script."""
    monkeypatch.setattr("sys.argv", ["/usr/bin/koji"])


class RecordingSession:
    """Fails the test on any hub call: refusals must happen before contacting the hub."""

    logged_in = True

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            raise AssertionError(f"hub contacted: {name}{args}")
        return call


def goptions(**extra):
    values = {"quiet": False, "weburl": "http://koji.example.org/koji", "topurl": None,
              "poll_interval": 0, "profile": None, "configFile": None, "authtype": "noauth"}
    values.update(extra)
    return optparse.Values(values)


def refusal(capsys, command, args):
    session = RecordingSession()
    with pytest.raises(SystemExit) as exc:
        command(goptions(), session, args)
    assert exc.value.code == 2
    assert session.calls == []
    err = capsys.readouterr().err
    assert err.startswith("Usage: koji ")
    last = err.strip().splitlines()[-1]
    assert last.startswith("koji: error: ")
    return err.split("koji: error: ", 1)[1].rstrip("\n")


def contract_words(opts):
    with pytest.raises(options.OptionsError) as exc:
        options.validate_image_options(opts)
    return str(exc.value)


URL = "git+https://src.example.org/container/foo.git#" + "a" * 40
BRANCH = ["--git-branch", "f39"]


@pytest.mark.parametrize(
    ("args", "opts", "words"),
    [
        (["--scratch", "--isolated", "--release", "1.1"],
         {"scratch": True, "isolated": True, "release": "1.1"},
         "--scratch and --isolated cannot be used together: a build is either scratch or "
         "isolated"),
        (["--arch-override", "x86_64,aarch64"], {"arch_override": "x86_64 aarch64"},
         "--arch-override needs --scratch or --isolated: regular builds are built for all "
         "arches of the build tag"),
        (["--signing-intent", "release", "--compose-id", "1"],
         {"signing_intent": "release", "compose_ids": [1]},
         "--signing-intent and --compose-id cannot be used together; give one or the other"),
        (["--operator-csv-modifications-url", "https://x.example.org/m.json"],
         {"operator_csv_modifications_url": "https://x.example.org/m.json"},
         "--operator-csv-modifications-url needs --isolated (with --release N.N)"),
        (["--isolated"], {"isolated": True},
         "--isolated needs --release N.N, e.g. --release 1.1 (or --release 1.1.hotfix)"),
        (["--isolated", "--release", "7"], {"isolated": True, "release": "7"},
         "--isolated needs --release N.N, e.g. --release 1.1 (or --release 1.1.hotfix); "
         "got '7'"),
        (["--userdata", "[1, 2]"], {"userdata": [1, 2]},
         "--userdata takes a JSON object of at most 64 KiB, e.g. --userdata "
         "'{\"ticket\": \"ABC-1\"}'; got [1, 2]"),
        (["--repo-url", "ftp://x/y.repo"], {"yum_repourls": ["ftp://x/y.repo"]},
         "--repo-url takes the http:// or https:// URL of a yum .repo file, e.g. --repo-url "
         "https://repos.example.org/my.repo; got 'ftp://x/y.repo'"),
        (["--replace-dependency", "gomod:foo"], {"dependency_replacements": ["gomod:foo"]},
         "--replace-dependency takes PKG_MANAGER:NAME:VERSION[:NEW_NAME], e.g. "
         "--replace-dependency gomod:example.org/foo:v1.2.0; got 'gomod:foo'"),
        (["--release", "not a release"], {"release": "not a release"},
         "--release takes a release starting with a digit, e.g. --release 1 or --release "
         "2.el9; got 'not a release'"),
        (["--scratch", "--skip-build"], {"scratch": True, "skip_build": True},
         "--skip-build cannot be used with --scratch: --skip-build only updates the autorebuild "
         "settings of regular builds, and scratch builds have none"),
    ],
)
def test_contract_refusals_name_the_flag_by_the_hubs_rule(capsys, args, opts, words):
    """Issue 15 #1: the CLI names its flags and says what to type; the hub, refusing the same
    opts by the same rule, names the option key."""
    message = refusal(capsys, cli.container_build, ["f39-container-candidate", URL, *BRANCH, *args])
    assert message == words
    hub_words = contract_words({"git_branch": "f39", **opts})
    assert hub_words.startswith("Invalid build option")
    assert "--" not in hub_words.split(";")[0]


def test_missing_git_branch_with_an_explicit_url(capsys):
    message = refusal(capsys, cli.container_build, ["f39-container-candidate", URL])
    assert message == ("--git-branch is required with an explicit SCM_URL: give the branch the "
                       "commit is on, e.g. --git-branch f39")
    assert "Git branch must be specified" in contract_words({})


@pytest.mark.parametrize(
    ("src", "needle"),
    [("https://src.example.org/container/foo.git", "expected scheme://"),
     ("svn://src.example.org/foo#1", "scheme svn:// is not allowed")],
)
def test_bad_scm_url_uses_the_hubs_words(capsys, src, needle):
    message = refusal(capsys, cli.container_build, ["t", src, *BRANCH])
    with pytest.raises(options.OptionsError) as exc:
        options.check_scm_url(src)
    assert message == str(exc.value) and needle in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["t", URL, "extra"], "Too many arguments: give at most a build target and a SCM URL"),
        ([URL], f"{URL} looks like a SCM URL; give the build target first: TARGET SCM_URL"),
        ([URL, "f39-container-candidate", *BRANCH],
         f"The build target and the SCM URL look swapped: {URL} is a SCM URL and "
         "f39-container-candidate is not; give the target first: TARGET SCM_URL"),
        (["t", URL, *BRANCH, "--userdata", "{oops"],
         "--userdata is not valid JSON: Expecting property name enclosed in double quotes: "
         "line 1 column 2 (char 1)"),
        (["t", URL, *BRANCH, "--userdata", "null"], "--userdata must be a JSON object, got null"),
        (["t", URL, *BRANCH, "--compose-id", "abc"],
         "option --compose-id: invalid integer value: 'abc'"),
        (["t", URL, *BRANCH, "--scratch", "--arch-override", "x86_64;id"],
         "--arch-override: Architecture can be only [a-zA-Z0-9_-]"),
        (["t", URL, *BRANCH, "--scratch", "--arch-override", " , "],
         "--arch-override needs at least one arch"),
    ],
)
def test_command_line_refusals(capsys, args, expected):
    assert refusal(capsys, cli.container_build, args) == expected


def test_flatpak_needs_a_target_and_has_no_isolated(capsys):
    assert refusal(capsys, cli.flatpak_build, []).startswith("A build target is required")
    assert refusal(capsys, cli.flatpak_build, ["t", URL, *BRANCH, "--isolated"]) == (
        "no such option: --isolated")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "Exactly one argument (a build target) is required"),
        (["a", "b", "--koji-build-id", "1"], "Exactly one argument (a build target) is required"),
        (["--koji-build-id", "x1", "t"], "option --koji-build-id: invalid integer value: 'x1'"),
    ],
)
def test_source_command_line_refusals(capsys, args, expected):
    assert refusal(capsys, cli.source_container_build, args) == expected


def test_source_without_build_names_the_flags(capsys):
    message = refusal(capsys, cli.source_container_build, ["t", "--scratch"])
    assert message == ("give the image build whose sources to build: --koji-build-id BUILD_ID "
                       "or --koji-build-nvr NVR, e.g. --koji-build-nvr foo-1.0-1")
    with pytest.raises(options.OptionsError) as exc:
        options.validate_source_options({"scratch": True})
    assert "koji_build_id" in str(exc.value) and "--koji" not in str(exc.value)


def test_flatpak_arch_override_without_scratch_names_only_scratch(capsys):
    message = refusal(capsys, cli.flatpak_build, ["t", URL, *BRANCH, "--arch-override", "x86_64"])
    assert message == ("--arch-override needs --scratch: regular builds are built for all "
                       "arches of the build tag")


def test_result_is_printed_sorted_with_build_links():
    result = {
        "repositories": ["reg.example.org/foo:1.0-1", "reg.example.org/foo:latest"],
        "user_warnings": ["base image is old"],
        "koji_builds": ["17"],
        "osbs_build_id": "foo-f39-1234",
        "build_node": "node-2",
    }
    assert cli.format_task_result(42, result, "http://koji.example.org/koji/") == [
        "Task Result (42):",
        "  build_node: node-2",
        "  koji_builds:",
        "    http://koji.example.org/koji/buildinfo?buildID=17",
        "  osbs_build_id: foo-f39-1234",
        "  repositories:",
        "    reg.example.org/foo:1.0-1",
        "    reg.example.org/foo:latest",
        "  user_warnings:",
        "    base image is old",
    ]


def test_result_empty_lists_nested_values_and_non_dicts_stay_readable():
    lines = cli.format_task_result(7, {"koji_builds": [], "extra": {"b": 2, "a": [{"x": 1}]}},
                                   "http://k")
    assert lines == ["Task Result (7):", "  extra:", "    a:", "      -:", "        x: 1",
                     "    b: 2", "  koji_builds: (none)"]
    assert cli.format_task_result(7, None, "http://k") == ["Task Result (7):", "  None"]


def test_profile_setting_reads_the_plugin_key_koji_would_drop(tmp_path):
    conf = tmp_path / "koji.conf"
    conf.write_text("[mykoji]\nserver = http://127.0.0.1:1/kojihub\n"
                    f"{cli.PROFILE_TEMPLATE_KEY} = https://src.example.org/{{repo}}.git\n"
                    "[other]\nserver = http://127.0.0.1:2/kojihub\n"
                    f"[escaped]\n{cli.PROFILE_TEMPLATE_KEY} = git://anon.example.org/%%(repo)s\n")
    opts = goptions(profile="mykoji", configFile=str(conf))
    assert cli.profile_setting(opts, cli.PROFILE_TEMPLATE_KEY) == (
        "https://src.example.org/{repo}.git")
    assert cli.profile_setting(goptions(profile="other", configFile=str(conf)),
                               cli.PROFILE_TEMPLATE_KEY) is None
    assert cli.profile_setting(goptions(profile="escaped", configFile=str(conf)),
                               cli.PROFILE_TEMPLATE_KEY) == "git://anon.example.org/%(repo)s"
