"""Source inspection against real git: SCM URLs, host rules, one-commit fetch, repository files."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import koji
import pytest

from koji_containerbuild.builder.labels import ImageLabels
from koji_containerbuild.builder.repofiles import read_source_files
from koji_containerbuild.builder.source import (
    ScmRef,
    ScmRules,
    SourceError,
    assert_allowed,
    fetch_source,
    make_scm,
    parse_scm_url,
)

# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch):
    """No host or user git config may change what these tests see."""
    monkeypatch.setenv('GIT_CONFIG_NOSYSTEM', '1')
    monkeypatch.setenv('GIT_CONFIG_GLOBAL', os.devnull)
    for key in ('GIT_CONFIG_COUNT', 'GIT_DIR', 'GIT_WORK_TREE'):
        monkeypatch.delenv(key, raising=False)


def force_protocol_v0(monkeypatch):
    """What a pre-2.26 git client (or one talking to an old server) speaks."""
    monkeypatch.setenv('GIT_CONFIG_COUNT', '1')
    monkeypatch.setenv('GIT_CONFIG_KEY_0', 'protocol.version')
    monkeypatch.setenv('GIT_CONFIG_VALUE_0', '0')


def git(*args, cwd=None) -> str:
    return subprocess.run(['git', *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def dockerfile_for(i: int) -> str:
    return (f'FROM registry.example.com/base:1\n'
            f'LABEL com.redhat.component=foo-container name=ns/foo version=1.0 release={i}\n')


def add_commits(repo: Path, first: int, last: int, branch: str = 'main',
                parent: str | None = None) -> list[str]:
    """Append commits ``first..last`` to ``branch`` with one fast-import run (fast, no shell)."""
    stream = []
    for i in range(first, last + 1):
        msg = f'commit {i}\n'
        files = {'Dockerfile': dockerfile_for(i), 'counter': f'{i}\n'}
        stream.append(f'commit refs/heads/{branch}\n'
                      f'committer T <t@example.com> {1700000000 + i} +0000\n'
                      f'data {len(msg)}\n{msg}')
        if i == first and parent:
            stream.append(f'from {parent}\n')
        for name, content in files.items():
            stream.append(f'M 100644 inline {name}\ndata {len(content.encode())}\n{content}\n')
    subprocess.run(['git', 'fast-import', '--quiet'], cwd=repo, input=''.join(stream),
                   text=True, check=True)
    return git('rev-list', '--reverse', '--max-count', str(last - first + 1), branch,
               cwd=repo).split()


def make_repo(path: Path, commits: int) -> list[str]:
    """A bare repo with ``commits`` commits on main; returns their shas, oldest first."""
    path.mkdir(parents=True)
    git('-c', 'init.defaultBranch=main', 'init', '-q', '--bare', cwd=path)
    return add_commits(path, 1, commits)


@dataclass
class Daemon:
    base: Path
    port: int

    def url(self, name: str, ref: str) -> str:
        return f'git://127.0.0.1:{self.port}/{name}#{ref}'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def daemon(tmp_path_factory):
    base = tmp_path_factory.mktemp('served')
    port = _free_port()
    proc = subprocess.Popen(
        ['git', 'daemon', '--reuseaddr', '--export-all', '--informative-errors',
         f'--base-path={base}', '--listen=127.0.0.1', f'--port={port}'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail('git daemon did not start')
            time.sleep(0.02)
    yield Daemon(base, port)
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope='module')
def served_repo(daemon):
    """container/foo.git with 30 commits, served by the daemon (default upload-pack config)."""
    shas = make_repo(daemon.base / 'container' / 'foo.git', 30)
    return shas


def fetch(src: str, tmp_path: Path, **kwargs):
    log = tmp_path / 'checkout-for-labels.log'
    result = fetch_source(parse_scm_url(src), tmp_path / 'work', logfile=log, **kwargs)
    return result, log.read_text()


def commits_in(checkout: Path) -> int:
    return int(git('rev-list', '--count', 'HEAD', cwd=checkout))


# --------------------------------------------------------------------------- SCM URL


@pytest.mark.parametrize('src, git_uri, component, ref', [
    ('git+https://src.example.org/container/foo.git#' + 'a' * 40,
     'https://src.example.org/container/foo.git', 'foo', 'a' * 40),
    ('git://pkgs.example.com:9418/container/bar#main',
     'git://pkgs.example.com:9418/container/bar', 'bar', 'main'),
    # the user part is dropped for OSBS, as upstream koji-containerbuild did
    ('git+ssh://alice@pkgs.example.com/container/baz.git?sub/dir#v1.0',
     'ssh://pkgs.example.com/container/baz.git', 'baz', 'v1.0'),
    ('git+http://host/a//b/./c.git/#0123abc', 'http://host/a/b/c.git', 'c', '0123abc'),
])
def test_scm_url_gives_what_git_and_osbs_need(src, git_uri, component, ref):
    scm_ref = parse_scm_url(src)
    assert (scm_ref.git_uri, scm_ref.component, scm_ref.ref) == (git_uri, component, ref)


def test_scm_url_keeps_user_and_module():
    scm_ref = parse_scm_url('git+ssh://alice@host/container/baz.git?sub/dir#v1')
    assert scm_ref.user == 'alice'
    assert scm_ref.module == 'sub/dir'
    assert scm_ref.host == 'host'
    assert scm_ref.repository == '/container/baz.git'


@pytest.mark.parametrize('src, reason', [
    ('https://src.example.org/container/foo.git#abc', 'Invalid scheme'),
    ('git+https://src.example.org/container/foo.git', 'fragment'),
    ('svn://svn.example.org/repo#1', 'need a git repository'),
    ('git+https://host/x.git#--upload-pack=touch', 'is not a git commit, branch or tag name'),
    ('git+https://host/x.git#a:refs/heads/b', 'is not a git commit, branch or tag name'),
    ('git+https://host/x.git;p=1#abc', 'Params'),
])
def test_bad_scm_urls_are_refused_naming_the_source(src, reason):
    with pytest.raises(SourceError) as err:
        parse_scm_url(src)
    assert str(err.value).startswith(f'Invalid source specification: {src}')
    assert reason in str(err.value)
    assert '\n' not in str(err.value)


def test_password_in_url_is_refused_without_showing_it():
    with pytest.raises(SourceError) as err:
        parse_scm_url('git+https://bob:hunter2@host/x.git#abc')
    assert 'hunter2' not in str(err.value)
    assert 'bob:***@host' in str(err.value)


@pytest.mark.parametrize('src', ['ftp://bob:hunter2@host/x.git#abc',
                                 'git+https://bob:hunter2@host/x.git',
                                 'git+https://bob:hunter2@host/x y.git#abc'])
def test_contract_check_of_the_url_never_echoes_a_password(src):
    from koji_containerbuild.options import OptionsError, check_scm_url

    with pytest.raises(OptionsError) as err:
        check_scm_url(src)
    assert 'hunter2' not in str(err.value)
    assert 'bob:***@host' in str(err.value)


def test_allowed_password_reaches_git_but_not_osbs_repr_or_display():
    scm_ref = parse_scm_url('git+https://bob:hunter2@host/x.git#abc', allow_password=True)
    assert scm_ref.fetch_uri == 'https://bob:hunter2@host/x.git'
    assert scm_ref.git_uri == 'https://host/x.git'
    assert scm_ref.user == 'bob'
    assert 'hunter2' not in repr(scm_ref)
    assert scm_ref.display_uri == 'https://bob:***@host/x.git'


# --------------------------------------------------------------------------- host rules

SRC = 'git+https://src.example.org/container/foo.git#' + 'a' * 40


def test_allowed_scm_entry_with_default_use_common_still_gets_no_common_checkout():
    scm = make_scm(SRC)
    assert_allowed(scm, ScmRules(allowed_scms='src.example.org:/container/*'))
    assert scm.use_common is False      # the entry did not say :no; we force it
    assert scm.source_cmd is None


def test_explicit_use_common_yes_is_overridden():
    scm = make_scm(SRC)
    assert_allowed(scm, ScmRules(allowed_scms='src.example.org:/container/*:yes:make,sources'))
    assert scm.use_common is False


def test_scm_not_in_allowed_list_fails_with_kojis_error():
    scm = make_scm(SRC)
    with pytest.raises(koji.BuildError) as err:
        assert_allowed(scm, ScmRules(allowed_scms='src.example.org:/rpms/*'))
    assert str(err.value) == ('src.example.org:/container/foo.git is not in the list of '
                              'allowed SCMs')


def test_blocked_entry_wins_when_first():
    scm = make_scm(SRC)
    with pytest.raises(koji.BuildError):
        assert_allowed(scm, ScmRules(
            allowed_scms='!src.example.org:/container/foo.git src.example.org:*'))


class PolicySession:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict]] = []

    def evalPolicy(self, name, data):  # noqa: N802 - koji's XML-RPC name
        self.calls.append((name, data))
        return self.answer


def test_policy_gets_task_data_and_use_common_action_is_ignored():
    session = PolicySession('allow use_common make sources')
    scm = make_scm(SRC)
    assert_allowed(scm, ScmRules(use_config=False, use_policy=True), session=session,
                   user_id=42, channel='container', scratch=True, build_tag=7)
    ((name, data),) = session.calls
    assert name == 'build_from_scm'
    assert data['user_id'] == 42 and data['channel'] == 'container'
    assert data['scratch'] is True and data['build_tag'] == 7
    assert data['scm_host'] == 'src.example.org'
    assert data['scm_repository'] == '/container/foo.git'
    assert scm.use_common is False


def test_policy_deny_gives_kojis_reason():
    scm = make_scm(SRC)
    with pytest.raises(koji.BuildError, match='not allowed, reason: private branches'):
        assert_allowed(scm, ScmRules(use_policy=True, use_config=False),
                       session=PolicySession('deny private branches'), user_id=1)


def test_config_and_policy_both_apply():
    scm = make_scm(SRC)
    session = PolicySession('allow')
    with pytest.raises(koji.BuildError):
        assert_allowed(scm, ScmRules(allowed_scms='other:*', use_policy=True), session=session)
    assert session.calls == []   # config refused first, as koji orders it


def test_policy_without_session_is_a_configuration_error():
    with pytest.raises(koji.ConfigurationError):
        assert_allowed(make_scm(SRC), ScmRules(use_config=False, use_policy=True))


def test_rules_from_kojid_options():
    class Options:
        allowed_scms = 'h:/c/*:no:'
        allowed_scms_use_config = False
        allowed_scms_use_policy = True

    rules = ScmRules.from_kojid_options(Options())
    assert rules == ScmRules(allowed_scms='h:/c/*:no:', use_config=False, use_policy=True)
    assert ScmRules.from_kojid_options(object()) == ScmRules()


# --------------------------------------------------------------------------- fetch


def test_fetch_by_sha_transfers_one_commit(daemon, served_repo, tmp_path):
    wanted = served_repo[24]   # 6 commits below the tip, not advertised
    result, log = fetch(daemon.url('container/foo.git', wanted), tmp_path, branch='main')
    assert result.commit == wanted
    assert result.path == tmp_path / 'work' / 'foo'
    assert commits_in(result.path) == 1
    assert (result.path / '.git' / 'shallow').read_text().strip() == wanted
    assert 'release=25' in (result.path / 'Dockerfile').read_text()
    assert result.commit_depth is None
    assert f'git fetch --depth 1 --no-tags -- git://127.0.0.1:{daemon.port}' in log
    assert 'refs/heads/main' not in log   # no fallback needed with protocol v2


def test_protocol_v0_server_refusing_unadvertised_sha_falls_back_to_branch(
        daemon, served_repo, tmp_path, monkeypatch):
    force_protocol_v0(monkeypatch)
    wanted = served_repo[24]
    result, log = fetch(daemon.url('container/foo.git', wanted), tmp_path, branch='main')
    assert result.commit == wanted
    assert result.commit_depth == 6
    assert 'Server does not allow request for unadvertised object' in log
    assert 'refs/heads/main' in log
    assert git('rev-parse', 'HEAD', cwd=result.path) == wanted
    assert 'release=25' in (result.path / 'Dockerfile').read_text()
    assert commits_in(result.path) <= 10   # fetched a bounded slice, not the history


def test_protocol_v0_refusal_without_branch_is_a_clear_error(
        daemon, served_repo, tmp_path, monkeypatch):
    force_protocol_v0(monkeypatch)
    src = daemon.url('container/foo.git', served_repo[3])
    with pytest.raises(SourceError) as err:
        fetch(src, tmp_path)
    message = str(err.value)
    assert message.startswith(f'cannot fetch {served_repo[3]} from git://127.0.0.1:')
    assert 'unadvertised object' in message
    assert '\n' not in message


def test_server_allowing_reachable_sha_needs_no_fallback(daemon, tmp_path, monkeypatch):
    repo = daemon.base / 'container' / 'allowing.git'
    shas = make_repo(repo, 12)
    git('config', 'uploadpack.allowReachableSHA1InWant', 'true', cwd=repo)
    force_protocol_v0(monkeypatch)
    result, log = fetch(daemon.url('container/allowing.git', shas[2]), tmp_path, branch='main')
    assert result.commit == shas[2]
    assert commits_in(result.path) == 1
    assert 'refs/heads/main' not in log


def test_moved_branch_still_builds_the_requested_commit(daemon, tmp_path, monkeypatch):
    repo = daemon.base / 'container' / 'moving.git'
    shas = make_repo(repo, 5)
    requested = shas[-1]
    add_commits(repo, 6, 8, parent=requested)        # someone pushed after fedpkg sent the URL
    force_protocol_v0(monkeypatch)
    result, _ = fetch(daemon.url('container/moving.git', requested), tmp_path, branch='main')
    assert result.commit == requested
    assert result.commit_depth == 4
    assert 'release=5' in (result.path / 'Dockerfile').read_text()


def test_verify_branch_costs_nothing_when_commit_is_the_tip(daemon, served_repo, tmp_path):
    result, log = fetch(daemon.url('container/foo.git', served_repo[-1]), tmp_path,
                        branch='main', verify_branch=True)
    assert result.commit_depth == 1
    assert commits_in(result.path) == 1
    # koji's scmpolicy plugin asks exactly this in srcdir
    assert git('branch', '-r', '--contains', 'HEAD', cwd=result.path) == 'origin/main'


def test_verify_branch_gives_depth_and_refuses_commit_off_the_branch(tmp_path):
    repo = tmp_path / 'verify.git'
    shas = make_repo(repo, 8)
    off_branch = add_commits(repo, 20, 22, branch='private', parent=shas[0])[0]
    scm_ref = ScmRef(git_uri=f'file://{repo}', ref=shas[3], component='verify', host='',
                     repository=str(repo))
    result = fetch_source(scm_ref, tmp_path / 'a', logfile=tmp_path / 'log', branch='main',
                          verify_branch=True)
    assert (result.commit, result.commit_depth) == (shas[3], 5)
    scm_ref = ScmRef(git_uri=f'file://{repo}', ref=off_branch, component='verify', host='',
                     repository=str(repo))
    with pytest.raises(SourceError, match=f'commit {off_branch} is not on branch main$'):
        fetch_source(scm_ref, tmp_path / 'b', logfile=tmp_path / 'log', branch='main',
                     verify_branch=True)


def test_branch_name_ref_is_resolved_to_the_commit_read(daemon, tmp_path):
    repo = daemon.base / 'container' / 'byname.git'
    shas = make_repo(repo, 4)
    result, _ = fetch(daemon.url('container/byname.git', 'main'), tmp_path)
    assert result.commit == shas[-1]
    assert result.requested_ref == 'main'
    assert commits_in(result.path) == 1


def test_annotated_tag_resolves_to_its_commit(tmp_path):
    repo = tmp_path / 'tagged.git'
    shas = make_repo(repo, 3)
    git('-c', 'user.name=T', '-c', 'user.email=t@example.com', 'tag', '-a', '-m', 'rel',
        'v1.0', shas[1], cwd=repo)
    scm_ref = ScmRef(git_uri=f'file://{repo}', ref='v1.0', component='tagged', host='',
                     repository=str(repo))
    result = fetch_source(scm_ref, tmp_path / 'w', logfile=tmp_path / 'log')
    assert result.commit == shas[1]
    assert commits_in(result.path) == 1


def test_commit_on_another_branch_is_reported_not_on_branch(tmp_path, monkeypatch):
    repo = tmp_path / 'branches.git'
    shas = make_repo(repo, 3)
    other = add_commits(repo, 10, 12, branch='other', parent=shas[0])[0]   # not a tip
    force_protocol_v0(monkeypatch)
    scm_ref = ScmRef(git_uri=f'file://{repo}', ref=other, component='branches', host='',
                     repository=str(repo))
    with pytest.raises(SourceError, match=f'commit {other} is not on branch main'):
        fetch_source(scm_ref, tmp_path / 'w', logfile=tmp_path / 'log', branch='main')


def test_branch_search_is_bounded(daemon, served_repo, tmp_path, monkeypatch):
    force_protocol_v0(monkeypatch)
    deep = served_repo[2]    # 28 below the tip
    with pytest.raises(SourceError, match='not found in the last 12 commits of branch main'):
        fetch(daemon.url('container/foo.git', deep), tmp_path, branch='main', max_depth=12)


def test_unknown_commit_and_unknown_repo_are_one_line_errors(daemon, served_repo, tmp_path):
    with pytest.raises(SourceError) as err:
        fetch(daemon.url('container/foo.git', 'f' * 40), tmp_path / 'a', branch='main')
    assert 'not our ref' in str(err.value) and '\n' not in str(err.value)
    with pytest.raises(SourceError) as err:
        fetch(daemon.url('container/missing.git', 'main'), tmp_path / 'b')
    assert f'git://127.0.0.1:{daemon.port}/container/missing.git' in str(err.value)


def test_unreachable_server_error_hides_password(tmp_path):
    port = _free_port()   # nothing listens there
    scm_ref = parse_scm_url(f'git+http://bob:hunter2@127.0.0.1:{port}/container/x.git#main',
                            allow_password=True)
    log = tmp_path / 'log'
    with pytest.raises(SourceError) as err:
        fetch_source(scm_ref, tmp_path / 'w', logfile=log, timeout=20)
    assert f'from http://bob:***@127.0.0.1:{port}/container/x.git' in str(err.value)
    assert 'hunter2' not in str(err.value)
    assert 'hunter2' not in log.read_text()
    assert 'bob:***@' in log.read_text()


def test_git_never_prompts_for_credentials(tmp_path):
    # an https server asking for a password would hang a task forever on a prompt
    fake = tmp_path / 'fake-git'
    fake.write_text('#!/bin/sh\ncase " $* " in *" fetch "*) echo "prompt=$GIT_TERMINAL_PROMPT"; '
                    'exit 128;; esac\nexec git "$@"\n')
    fake.chmod(0o755)
    scm_ref = ScmRef(git_uri='https://h/x.git', ref='main', component='x', host='h',
                     repository='/x.git')
    with pytest.raises(SourceError, match='prompt=0'):
        fetch_source(scm_ref, tmp_path / 'w', logfile=tmp_path / 'log', git=str(fake))


def test_hung_git_is_killed_at_the_time_limit(tmp_path):
    pidfile = tmp_path / 'pid'
    fake = tmp_path / 'slow-git'
    fake.write_text(f'#!/bin/sh\necho $$ > {pidfile}\nexec sleep 30\n')
    fake.chmod(0o755)
    scm_ref = ScmRef(git_uri='git://h/x.git', ref='main', component='x', host='h',
                     repository='/x.git')
    started = time.monotonic()
    with pytest.raises(SourceError, match=r'git init timed out after 0\.\d s'):
        fetch_source(scm_ref, tmp_path / 'w', logfile=tmp_path / 'log', git=str(fake),
                     timeout=0.5)
    assert time.monotonic() - started < 5
    with pytest.raises(ProcessLookupError):
        os.kill(int(pidfile.read_text()), 0)


def test_refuses_non_empty_checkout_dir_and_odd_branch_names(tmp_path):
    scm_ref = ScmRef(git_uri='git://h/x.git', ref='main', component='x', host='h',
                     repository='/x.git')
    (tmp_path / 'w' / 'x').mkdir(parents=True)
    (tmp_path / 'w' / 'x' / 'stale').write_text('')
    with pytest.raises(SourceError, match='not empty'):
        fetch_source(scm_ref, tmp_path / 'w', logfile=tmp_path / 'log')
    with pytest.raises(SourceError, match='not a valid git branch name'):
        fetch_source(scm_ref, tmp_path / 'v', logfile=tmp_path / 'log', branch='--force')


# --------------------------------------------------------------------------- repository files


def write_files(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).write_text(content)
    return root


def test_reads_all_files_osbs_uses(tmp_path):
    root = write_files(tmp_path, {
        'Dockerfile': dockerfile_for(3),
        'container.yaml': 'platforms:\n  only: [x86_64]\ncompose:\n  packages: [a]\n',
        '.osbs-repo-config': '[autorebuild]\nenabled = true\n',
        'additional-tags': 'latest\n\n  v1.0 \nv1-beta\nstable\nlatest\n',
    })
    files = read_source_files(root)
    assert files.dockerfile == dockerfile_for(3)
    assert files.dockerfile_path == root / 'Dockerfile'
    assert files.container_config['platforms'] == {'only': ['x86_64']}
    assert files.has_container_yaml
    assert files.autorebuild is True
    assert files.additional_tags == ('latest', 'v1.0', 'stable')
    assert files.ignored_tags == ('v1-beta',)     # OSBS drops tags with '-'
    assert not files.tags_from_container_yaml


def test_only_dockerfile_is_needed_and_defaults_apply(tmp_path):
    files = read_source_files(write_files(tmp_path, {'Dockerfile': dockerfile_for(1)}))
    assert files.container_config == {} and not files.has_container_yaml
    assert files.autorebuild is False
    assert files.additional_tags == () and files.ignored_tags == ()


def test_missing_dockerfile_uses_upstream_message(tmp_path):
    with pytest.raises(SourceError) as err:
        read_source_files(tmp_path)
    assert str(err.value) == 'Dockerfile file missing: the repository has no Dockerfile at its top'
    assert str(tmp_path) not in str(err.value)  # the builder's checkout path means nothing


def test_container_yaml_tags_replace_additional_tags_file(tmp_path):
    root = write_files(tmp_path, {'Dockerfile': dockerfile_for(1),
                                  'container.yaml': 'tags:\n  - rolling\n  - 7-x\n',
                                  'additional-tags': 'from-file\nfile\n'})
    files = read_source_files(root)
    assert files.additional_tags == ('rolling',)
    assert files.ignored_tags == ('7-x',)
    assert files.tags_from_container_yaml


def test_flatpak_needs_container_yaml_with_flatpak_section_not_a_dockerfile(tmp_path):
    with pytest.raises(SourceError, match='container.yaml file missing: .*flatpak builds') as err:
        read_source_files(tmp_path, flatpak=True)
    assert str(tmp_path) not in str(err.value)  # issue 15 #2: no builder checkout path
    write_files(tmp_path, {'container.yaml': 'compose:\n  modules: ["m:s"]\n'})
    with pytest.raises(SourceError, match="doesn't have a container.yaml with a flatpak"):
        read_source_files(tmp_path, flatpak=True)
    write_files(tmp_path, {'container.yaml': 'flatpak:\n  id: org.example.App\n'})
    files = read_source_files(tmp_path, flatpak=True)
    assert files.dockerfile is None
    assert files.container_config['flatpak']['id'] == 'org.example.App'


def test_flatpak_section_in_a_non_flatpak_build_is_refused(tmp_path):
    write_files(tmp_path, {'Dockerfile': dockerfile_for(1),
                           'container.yaml': 'flatpak:\n  id: x\n'})
    with pytest.raises(SourceError, match='Not a flatpak build'):
        read_source_files(tmp_path)


@pytest.mark.parametrize('files, message', [
    ({'container.yaml': 'a: [1\n'}, 'container.yaml is not valid YAML at line 2'),
    ({'container.yaml': 'a: ' + '[' * 5000 + ']' * 5000}, 'container.yaml is nested too deeply'),
    ({'container.yaml': '- a\n- b\n'}, 'container.yaml: a mapping of the documented keys'),
    ({'container.yaml': 'tags: latest\n'}, "container.yaml: tags: a list of tags; got 'latest'"),
    ({'container.yml': 'platforms: {}\n'},
     'Repo contains wrong filename: container.yml, expected: container.yaml'),
    ({'.osbs-repo-config': 'enabled = true\n'}, '.osbs-repo-config: File contains no section'),
    ({'.osbs-repo-config': '[autorebuild]\nenabled = maybe\n'}, '.osbs-repo-config: Not a '),
])
def test_broken_repo_files_are_errors_not_silently_skipped(tmp_path, files, message):
    write_files(tmp_path, {'Dockerfile': dockerfile_for(1), **files})
    with pytest.raises(SourceError) as err:
        read_source_files(tmp_path)
    assert message in str(err.value)
    assert '\n' not in str(err.value)


def test_symlinks_out_of_the_repository_are_refused(tmp_path):
    secret = tmp_path / 'host-secret'
    secret.write_text('LABEL name=secret\n')
    root = tmp_path / 'repo'
    root.mkdir()
    (root / 'Dockerfile').symlink_to(secret)
    with pytest.raises(SourceError, match='Dockerfile points outside the repository'):
        read_source_files(root)


def test_symlink_inside_the_repository_is_fine(tmp_path):
    write_files(tmp_path, {'Dockerfile.real': dockerfile_for(2)})
    (tmp_path / 'Dockerfile').symlink_to('Dockerfile.real')
    assert read_source_files(tmp_path).dockerfile == dockerfile_for(2)


def test_unreadable_and_odd_files_are_errors(tmp_path, monkeypatch):
    (tmp_path / 'Dockerfile').mkdir()
    with pytest.raises(SourceError, match='Dockerfile is not a regular file'):
        read_source_files(tmp_path)
    (tmp_path / 'Dockerfile').rmdir()
    (tmp_path / 'Dockerfile').write_bytes(b'FROM base\nLABEL name=\xff\n')
    with pytest.raises(SourceError, match='Dockerfile is not UTF-8 text'):
        read_source_files(tmp_path)
    write_files(tmp_path, {'Dockerfile': dockerfile_for(1), 'additional-tags': 'x\n'})
    real_read = Path.read_bytes

    def failing_read(path):
        if path.name == 'additional-tags':
            raise PermissionError(13, 'Permission denied')
        return real_read(path)

    monkeypatch.setattr(Path, 'read_bytes', failing_read)
    with pytest.raises(SourceError, match='cannot read additional-tags: Permission denied'):
        read_source_files(tmp_path)


# --------------------------------------------------------------------------- together


def test_labels_are_read_from_the_commit_that_will_be_built(daemon, tmp_path):
    repo = daemon.base / 'container' / 'e2e.git'
    shas = make_repo(repo, 3)
    result, _ = fetch(daemon.url('container/e2e.git', shas[1]), tmp_path, branch='main')
    files = read_source_files(result.path)
    labels = ImageLabels.from_dockerfile(files.dockerfile)
    labels.check_required()
    labels.check_tag_lengths(files.additional_tags)
    assert labels.expected_nvr() == 'foo-container-1.0-2'
    assert result.commit == shas[1]


@pytest.mark.parametrize('expected, wrong', [
    ('container.yaml', 'container.yml'),
    ('content_sets.yml', 'content_sets.yaml'),
    ('content_sets.yml', 'content-sets.yml'),
    ('content_sets.yml', 'content-sets.yaml'),
])
def test_misnamed_repository_files_are_refused_as_osbs_client_did(tmp_path, expected, wrong):
    write_files(tmp_path, {'Dockerfile': dockerfile_for(1), wrong: '{}\n'})
    with pytest.raises(SourceError) as err:
        read_source_files(tmp_path)
    assert str(err.value) == f'Repo contains wrong filename: {wrong}, expected: {expected}'
    write_files(tmp_path, {expected: '{}\n'})
    with pytest.raises(SourceError) as err:
        read_source_files(tmp_path)
    assert str(err.value) == (f'This repo contains both {expected} and {wrong} '
                              f'Please remove {wrong}')
