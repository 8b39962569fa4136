"""Issue 15: refusals in the CLI's own words and no option silently ignored, through the real
``koji`` script with the plugin against the sandbox hub."""

from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import KOJI, PROFILE, TARGET

SHA = "0123456789abcdef0123456789abcdef01234567"
URL = f"git+https://src.example.org/container/foo.git#{SHA}"


def refused(run) -> str:
    """The one ``koji: error:`` line of a usage refusal (exit 2, no traceback)."""
    assert run.rc == 2, (run.out, run.err)
    assert "Traceback" not in run.err
    last = run.err.strip().splitlines()[-1]
    assert last.startswith("koji: error: "), run.err
    return last[len("koji: error: "):]


@pytest.mark.parametrize(("argv", "line"), [
    (["--isolated"], "--isolated needs --release N.N, e.g. --release 1.1 "
                     "(or --release 1.1.hotfix)"),
    (["--repo-url", "notaurl"],
     "--repo-url takes the http:// or https:// URL of a yum .repo file, e.g. --repo-url "
     "https://repos.example.org/my.repo; got 'notaurl'"),
    (["--scratch", "--skip-build"],
     "--skip-build cannot be used with --scratch: --skip-build only updates the autorebuild "
     "settings of regular builds, and scratch builds have none"),
], ids=["isolated-without-release", "repo-url-not-a-url", "skip-build-with-scratch"])
def test_container_build_refusals_name_the_flag_and_what_to_type(hub, koji, argv, line):
    run = koji("container-build", TARGET, URL, "--git-branch", "f39", *argv)
    message = refused(run)
    assert message == line
    assert "Invalid build option" not in message and "^" not in message
    assert hub.calls == []


def test_source_container_build_without_a_build_names_both_flags(hub, koji):
    message = refused(koji("source-container-build", TARGET))
    assert message == ("give the image build whose sources to build: --koji-build-id BUILD_ID "
                       "or --koji-build-nvr NVR, e.g. --koji-build-nvr foo-1.0-1")
    assert hub.calls == []


def test_hub_keeps_the_option_key_words_for_rpkg_callers(hub, koji):
    """The same rule, asked of the hub directly (as rpkg does), names the option keys."""
    run = koji("call", "buildContainer", f'"{URL}"', f'"{TARGET}"',
               '{"git_branch": "f39", "scratch": true, "skip_build": true}', "--json-input")
    assert run.rc == 1
    assert ("ParameterError: Invalid build options 'skip_build' and 'scratch': skip_build only "
            "updates the autorebuild settings (BuildConfig) of a regular build; a scratch build "
            "has none") in run.err
    assert not hub.tasks()


def test_target_and_url_swapped_says_so(hub, koji):
    message = refused(koji("container-build", URL, TARGET, "--git-branch", "f39"))
    assert message == (f"The build target and the SCM URL look swapped: {URL} is a SCM URL and "
                       f"{TARGET} is not; give the target first: TARGET SCM_URL")
    assert hub.calls == []


def test_arch_override_the_build_tag_lacks_is_refused_listing_its_arches(hub, koji):
    """The build tag has x86_64, aarch64 and ppc64le: s390x must not be dropped silently."""
    message = refused(koji("container-build", TARGET, URL, "--git-branch", "f39", "--scratch",
                           "--arch-override", "x86_64,s390x"))
    assert message == ("--arch-override s390x: not an arch of build tag f39-container-build, "
                       "which has x86_64, aarch64, ppc64le")
    assert not [c for c in hub.calls if c["method"] == "buildContainer"]
    ok = koji("container-build", TARGET, URL, "--git-branch", "f39", "--scratch",
              "--arch-override", "aarch64", "--nowait")
    assert ok.rc == 0, ok.err


def test_flatpak_build_help_offers_no_isolated(koji):
    run = koji("flatpak-build", "--help")
    assert run.rc == 0
    text = " ".join(run.out.split())
    assert "--arch-override=ARCHES Limit a --scratch build to these arches of the build tag" in text
    assert "--isolated" not in text


@pytest.mark.parametrize(("login", "missing"), [
    ([], "--user and --password"), (["--user", "packager"], "--password")])
def test_password_profile_without_user_is_one_line_not_a_keyerror(hub, koji_conf, tmp_path,
                                                                  login, missing):
    """Issue 15 #11: koji reads no user/password from a profile; say what to add."""
    run = subprocess.run([KOJI, "-p", PROFILE, "-c", str(koji_conf), *login, "container-build",
                          TARGET, URL, "--git-branch", "f39"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60, cwd=str(tmp_path),
                         env={k: v for k, v in os.environ.items() if not k.startswith("KOJI")})
    assert "KeyError" not in run.stderr and "Traceback" not in run.stderr
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (
        f"koji: error: password login (authtype = password) needs {missing}: give koji --user "
        "USER --password PASSWORD before the command (koji does not read them from the profile)")
    assert not [c for c in hub.calls if c["method"] in ("login", "buildContainer")]
