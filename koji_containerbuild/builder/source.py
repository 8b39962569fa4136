"""The build's source: SCM URL → git URI/ref, the host's SCM rules, and a shallow fetch of the one
commit (the files OSBS reads from it are in ``repofiles``).

Only `koji.daemon.SCM` is used from koji (URL grammar, allowed_scms, build_from_scm policy); the
checkout itself is our own: koji's `SCM.checkout` clones the whole history (and `common/`), while
the labels need one commit.
"""

from __future__ import annotations

import os
import posixpath
import re
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional, Union

import koji
from koji.daemon import SCM

_FULL_SHA = re.compile(r'^(?:[0-9a-f]{40}|[0-9a-f]{64})$')
_MAYBE_SHA = re.compile(r'^[0-9a-f]{4,64}$')
# Ref names we pass to git: no option look-alikes, no refspec ':' or revision syntax.
_SAFE_REF = re.compile(r'^(?!-)(?!.*\.\.)[A-Za-z0-9._/+@-]+$')


class SourceError(Exception):
    """A problem with the build's source the packager (or admin) can act on; one line."""


# ---------------------------------------------------------------------------------------------
# SCM URL and the host's rules


@dataclass(frozen=True)
class ScmRef:
    """A Koji SCM URL taken apart for git and OSBS (``git_uri``/``git_ref``/``component``)."""

    git_uri: str                       # what OSBS gets: scheme, host and path, no user part
    ref: str                           # URL fragment: commit sha, branch or tag
    component: str                     # repository basename without .git (OSBS `component`)
    host: str
    repository: str                    # path on the host, koji-normalised
    user: Optional[str] = None         # user name only, never the password
    module: str = ''                   # the `?path` part; OSBS 1 builds from the repo root
    # what this host's git fetches, with the user part (and password, if allowed): never
    # leaves the builder
    fetch_uri: str = field(default='', repr=False)
    display_uri: str = ''              # fetch_uri with any password replaced by ***

    def __post_init__(self) -> None:
        if not self.fetch_uri:
            object.__setattr__(self, 'fetch_uri', self.git_uri)
        if not self.display_uri:
            object.__setattr__(self, 'display_uri', redact_url(self.fetch_uri))


def redact_url(url: str) -> str:
    """Hide the password of a ``scheme://user:password@host`` URL."""
    return re.sub(r'(://[^/@:]*):[^/@]*@', r'\1:***@', url)


def _password_of(url: str) -> Optional[str]:
    rest = url.split('://', 1)[-1]
    try:
        return urllib.parse.urlsplit('http://' + rest).password
    except ValueError:
        return None


def _scrub(text: str, secrets: Sequence[str]) -> str:
    text = redact_url(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, '***')
    return text


def make_scm(src: str, *, allow_password: bool = False) -> SCM:
    """koji's SCM object for ``src`` (grammar and scheme checks are koji's)."""
    try:
        return SCM(src, allow_password=allow_password)
    except koji.GenericError as exc:
        reason = str(exc).replace('\n', ' ')
        raise SourceError(_scrub(f'Invalid source specification: {src} ({reason})',
                                 [_password_of(src) or ''])) from None


def scm_ref_from(scm: SCM) -> ScmRef:
    """Derive git URI, ref and component from a parsed SCM object (git schemes only)."""
    shown = _scrub(scm.url, [_password_of(scm.url) or ''])
    if scm.scmtype not in ('GIT', 'GIT+SSH'):
        raise SourceError(f'Invalid source specification: {shown} (container builds need a git '
                          'repository)')
    scheme = scm.scheme[len('git+'):] if scm.scheme.startswith('git+') else scm.scheme
    userinfo = f'{scm.user}@' if scm.user else ''
    # OSBS gets the URI without the user part, as upstream koji-containerbuild passed it: a
    # password allowed by allow_password_in_scm_url serves this host's fetch and goes no further
    # (not into the Build, its labels, USER_PARAMS or the BuildConfig name).
    git_uri = f'{scheme}{scm.host}{scm.repository}'
    basename = urllib.parse.unquote(posixpath.basename(scm.repository))
    component = basename[:-len('.git')] if basename.endswith('.git') else basename
    if not component or component in ('.', '..'):
        raise SourceError(f'Invalid source specification: {shown} '
                          '(no repository name in the path)')
    if not _SAFE_REF.match(scm.revision):
        raise SourceError(f'Invalid source specification: {shown} '
                          f'({scm.revision!r} is not a git commit, branch or tag name)')
    return ScmRef(git_uri=git_uri, ref=scm.revision, component=component, host=scm.host,
                  repository=scm.repository, user=(scm.user or '').split(':', 1)[0] or None,
                  module=scm.module or '',
                  fetch_uri=f'{scheme}{userinfo}{scm.host}{scm.repository}')


def parse_scm_url(src: str, *, allow_password: bool = False) -> ScmRef:
    """``git+https://host/container/foo.git#<sha>`` → `ScmRef`; `SourceError` when invalid."""
    return scm_ref_from(make_scm(src, allow_password=allow_password))


@dataclass(frozen=True)
class ScmRules:
    """The builder host's SCM rules: kojid.conf ``allowed_scms`` and the policy switches."""

    allowed_scms: str = ''
    use_config: bool = True         # allowed_scms_use_config
    use_policy: bool = False        # allowed_scms_use_policy (hub policy build_from_scm)
    allow_password: bool = False    # allow_password_in_scm_url

    @classmethod
    def from_kojid_options(cls, options: Any) -> ScmRules:
        """Read the kojid option names (absent → kojid's defaults)."""
        return cls(
            allowed_scms=getattr(options, 'allowed_scms', '') or '',
            use_config=bool(getattr(options, 'allowed_scms_use_config', True)),
            use_policy=bool(getattr(options, 'allowed_scms_use_policy', False)),
            allow_password=bool(getattr(options, 'allow_password_in_scm_url', False)),
        )


def assert_allowed(scm: SCM, rules: ScmRules, *, session: Any = None,
                   user_id: Optional[int] = None, channel: Optional[str] = None,
                   scratch: bool = False, build_tag: Union[int, str, None] = None,
                   extra_policy_data: Optional[Mapping[str, Any]] = None) -> None:
    """Refuse an SCM the host does not allow (raises koji's own `koji.BuildError`).

    Afterwards ``use_common`` and ``source_cmd`` are switched off whatever the allowed_scms entry
    or the policy action said: they describe an rpm checkout (clone ``<dir>/common``, run
    ``make sources``). Container repositories have no ``common`` sibling, and nothing here runs a
    source command, so honouring them would only break a later `SCM.checkout`.
    """
    policy_data: dict[str, Any] = {'user_id': user_id, 'channel': channel,
                                   'scratch': bool(scratch)}
    if build_tag is not None:
        policy_data['build_tag'] = build_tag
    policy_data.update(extra_policy_data or {})
    scm.assert_allowed(allowed=rules.allowed_scms, session=session, by_config=rules.use_config,
                       by_policy=rules.use_policy, policy_data=policy_data)
    scm.use_common = False
    scm.source_cmd = None


# ---------------------------------------------------------------------------------------------
# Shallow fetch of one commit


@dataclass(frozen=True)
class FetchedSource:
    """A checkout of exactly the commit the labels are read from."""

    path: Path
    commit: str                    # full sha: submit this as git_ref, not the requested ref
    requested_ref: str
    commit_depth: Optional[int]    # position below the branch tip when found by deepening


class _Git:
    """Runs git without a shell, logs redacted output, enforces one deadline for all commands."""

    def __init__(self, git: str, cwd: Path, log: BinaryIO, deadline: float,
                 secrets: Sequence[str], clock: Callable[[], float]) -> None:
        self.git, self.cwd, self.log = git, cwd, log
        self.deadline, self.secrets, self.clock = deadline, secrets, clock
        # Never wait for a password prompt (no terminal in kojid); C locale for stable messages.
        self.env = dict(os.environ, GIT_TERMINAL_PROMPT='0', GCM_INTERACTIVE='never',
                        LC_ALL='C', LANGUAGE='C')

    def run(self, *args: str, check: bool = True) -> tuple[int, str]:
        verb = next((a for a in args if not a.startswith('-') and '=' not in a), 'git')
        shown = _scrub(' '.join(args), self.secrets)
        self.log.write(f'$ git {shown}\n'.encode())
        self.log.flush()
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            raise SourceError(f'git {verb}: time limit for fetching the source reached')
        try:
            # No credential helper: a password from the URL is never stored on the host.
            proc = subprocess.Popen([self.git, '-c', 'credential.helper=', *args],
                                    cwd=self.cwd, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise SourceError(f'cannot run {self.git}: {exc.strerror}') from None
        try:
            raw, _ = proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            self.log.write(b'[killed: time limit reached]\n')
            raise SourceError(f'git {verb} timed out after {remaining:.1f} s') from None
        finally:
            if proc.poll() is None:   # interrupted (task cancelled): leave no git behind
                self._kill(proc)
        output = _scrub(raw.decode('utf-8', 'replace'), self.secrets)
        self.log.write(output.encode('utf-8'))
        self.log.write(f'[exit {proc.returncode}]\n'.encode())
        self.log.flush()
        if check and proc.returncode != 0:
            raise SourceError(f'git {verb} failed: {_last_message(output)}')
        return proc.returncode, output

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()

    def commit_of(self, rev: str) -> Optional[str]:
        rc, out = self.run('rev-parse', '--verify', '--quiet', f'{rev}^{{commit}}', check=False)
        return out.strip() if rc == 0 else None

    def is_ancestor(self, commit: str, tip: str) -> bool:
        return self.run('merge-base', '--is-ancestor', commit, tip, check=False)[0] == 0

    def count(self, rev_range: str) -> int:
        return int(self.run('rev-list', '--count', rev_range)[1].strip())


def _last_message(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(('fatal:', 'error:')):
            return line
    return lines[-1] if lines else 'no output'


def fetch_source(scm_ref: ScmRef, workdir: Union[str, os.PathLike], *,
                 logfile: Union[str, os.PathLike], branch: Optional[str] = None,
                 verify_branch: bool = False, git: str = 'git', timeout: float = 600.0,
                 max_depth: int = 1000,
                 clock: Callable[[], float] = time.monotonic) -> FetchedSource:
    """Fetch only ``scm_ref.ref`` into ``<workdir>/<component>`` and check it out detached.

    A sha is fetched directly (``git fetch --depth 1 <uri> <sha>``). Servers that refuse wants of
    unadvertised objects (protocol v0 without uploadpack.allowReachableSHA1InWant) are handled by
    fetching ``branch`` with growing depth until the commit appears (at most ``max_depth``
    commits). A branch or tag name is resolved to its commit, which is returned: OSBS must build
    the commit the labels were read from, not whatever the name points to later.

    ``verify_branch`` also proves the commit is on ``branch`` (what OSBS's own clone of the branch
    needs) and yields ``commit_depth``; when the commit is the branch tip this costs no objects.
    Whenever the branch was fetched, ``refs/remotes/origin/<branch>`` is set, so that
    ``git branch -r --contains HEAD`` (koji's scmpolicy plugin) sees it.
    ``timeout`` bounds the whole operation; git's output goes to ``logfile`` without secrets.
    """
    if branch is not None and not _SAFE_REF.match(branch):
        raise SourceError(f'{branch!r} is not a valid git branch name')
    if verify_branch and branch is None:
        raise SourceError('verify_branch needs the branch name')
    dest = Path(workdir) / scm_ref.component
    if dest.exists() and any(dest.iterdir()):
        raise SourceError(f'checkout directory {dest} is not empty')
    dest.mkdir(parents=True, exist_ok=True)
    secrets = [s for s in (_password_of(scm_ref.fetch_uri),) if s]
    with open(logfile, 'ab') as log:
        runner = _Git(git, dest, log, clock() + timeout, secrets, clock)
        log.write(f'# fetching {scm_ref.ref} from {scm_ref.display_uri}\n'.encode())
        try:
            runner.run('-c', 'init.defaultBranch=main', 'init', '-q')
            commit, depth = _fetch_commit(runner, scm_ref, branch, verify_branch, max_depth)
            runner.run('-c', 'advice.detachedHead=false', 'checkout', '-q', '--detach', commit)
        except SourceError as exc:
            log.write(f'# failed: {exc}\n'.encode())
            raise SourceError(f'cannot fetch {scm_ref.ref} from {scm_ref.display_uri}: '
                              f'{exc}') from None
        log.write(f'# checked out {commit}\n'.encode())
    return FetchedSource(path=dest, commit=commit, requested_ref=scm_ref.ref, commit_depth=depth)


def _fetch_commit(runner: _Git, scm_ref: ScmRef, branch: Optional[str], verify_branch: bool,
                  max_depth: int) -> tuple[str, Optional[int]]:
    ref, uri = scm_ref.ref, scm_ref.fetch_uri
    rc, out = runner.run('fetch', '--depth', '1', '--no-tags', '--', uri, ref, check=False)
    if rc == 0:
        commit = runner.commit_of('FETCH_HEAD')
        if commit is None or (_FULL_SHA.match(ref) and commit != ref):
            raise SourceError(f'the server returned {commit} instead of {ref}')
        if not verify_branch or branch is None:
            return commit, None
        return _find_on_branch(runner, uri, commit, branch, max_depth, '')
    direct_failure = _last_message(out)
    if branch is None or not _MAYBE_SHA.match(ref):
        raise SourceError(direct_failure)
    return _find_on_branch(runner, uri, ref, branch, max_depth,
                           f' (direct fetch: {direct_failure})')


def _find_on_branch(runner: _Git, uri: str, ref: str, branch: str, max_depth: int,
                    context: str) -> tuple[str, int]:
    """Walk the branch history in growing steps until ``ref`` is an ancestor of its tip.

    Starts at depth 1: usually the requested commit is the tip, which is then already present.
    """
    depth = 1
    while True:
        rc, out = runner.run('fetch', '--depth', str(depth), '--no-tags', '--', uri,
                             f'refs/heads/{branch}', check=False)
        if rc != 0:
            raise SourceError(f'fetching branch {branch} failed: {_last_message(out)}{context}')
        commit = runner.commit_of(ref)
        if commit is not None and runner.is_ancestor(commit, 'FETCH_HEAD'):
            runner.run('update-ref', f'refs/remotes/origin/{branch}', 'FETCH_HEAD')
            return commit, runner.count(f'{commit}..FETCH_HEAD') + 1
        if runner.count('FETCH_HEAD') < depth:
            raise SourceError(f'commit {ref} is not on branch {branch}{context}')
        if depth >= max_depth:
            raise SourceError(f'commit {ref} not found in the last {max_depth} commits of '
                              f'branch {branch}{context}')
        depth = min(10 if depth == 1 else depth * 4, max_depth)
