"""Bad requests are refused with one line naming the field, and no task is ever made."""

from __future__ import annotations

import datetime
import random
import xmlrpc.client

import koji
import pytest

from .payloads import RPKG_CONTAINER_UNSET, SRC, TARGET

OK = {"git_branch": "f39"}
HUGE = "x" * 100_000

# (id, src, target, opts, kwargs, exception, text the one-line message must contain)
IMAGE_REFUSALS = [
    ("unknown key", SRC, TARGET, dict(OK, name="foo"), {}, koji.ParameterError,
     "Unknown build option 'name'; allowed options:"),
    ("compose_ids of strings", SRC, TARGET, dict(OK, compose_ids=["1"]), {}, koji.ParameterError,
     "'compose_ids': must be a list of ODCS compose ids (integers)"),
    ("scratch as string", SRC, TARGET, dict(OK, scratch="yes"), {}, koji.ParameterError,
     "'scratch': must be a boolean"),
    ("scratch with isolated", SRC, TARGET, dict(OK, scratch=True, isolated=True, release="1.1"),
     {}, koji.ParameterError, "Build cannot be both isolated and scratch"),
    ("skip_build with scratch (rpkg form)", SRC, TARGET,
     dict(RPKG_CONTAINER_UNSET, scratch=True, skip_build=True), {}, koji.ParameterError,
     "Invalid build options 'skip_build' and 'scratch': skip_build only updates the autorebuild "
     "settings"),
    ("flatpak with isolated", SRC, TARGET, dict(OK, flatpak=True, isolated=True, release="1.1"),
     {}, koji.ParameterError, "'flatpak' and 'isolated'"),
    ("arch_override on a regular build", SRC, TARGET, dict(OK, arch_override="x86_64"), {},
     koji.ParameterError, "arch-override is only allowed for isolated or scratch builds"),
    ("arch_override as a list", SRC, TARGET, dict(OK, scratch=True, arch_override=["x86_64"]),
     {}, koji.ParameterError, "'arch_override': must be a space-separated list of arches"),
    ("arch_override with commas", SRC, TARGET, dict(OK, scratch=True, arch_override="x86_64,s390x"),
     {}, koji.ParameterError, "'arch_override'"),
    ("signing_intent with compose_ids", SRC, TARGET,
     dict(OK, signing_intent="release", compose_ids=[1]), {}, koji.ParameterError,
     "signing_intent used with compose_ids"),
    ("operator csv without isolated", SRC, TARGET,
     dict(OK, operator_csv_modifications_url="https://x.example.org/a.json"), {},
     koji.ParameterError, "'operator_csv_modifications_url': only allowed for isolated builds"),
    ("operator csv not http", SRC, TARGET,
     dict(OK, isolated=True, release="1.1", operator_csv_modifications_url="ftp://x/a.json"), {},
     koji.ParameterError, "'operator_csv_modifications_url': must be an http(s) URL"),
    ("isolated without release", SRC, TARGET, dict(RPKG_CONTAINER_UNSET, isolated=True), {},
     koji.ParameterError, "isolated builds need a release matching"),
    ("isolated with release 1", SRC, TARGET, dict(OK, isolated=True, release="1"), {},
     koji.ParameterError, "isolated builds need a release matching"),
    ("bad release", SRC, TARGET, dict(OK, release="1..2"), {}, koji.ParameterError,
     "'release': must be a string matching"),
    ("release with a dash", SRC, TARGET, dict(OK, release="1-2"), {}, koji.ParameterError,
     "'release'"),
    ("yum_repourls not http", SRC, TARGET, dict(OK, yum_repourls=["file:///etc/passwd"]), {},
     koji.ParameterError, "'yum_repourls': must be a list of http(s) URLs"),
    ("yum_repourls a string", SRC, TARGET, dict(OK, yum_repourls="https://r/a.repo"), {},
     koji.ParameterError, "'yum_repourls'"),
    ("dependency_replacements bad form", SRC, TARGET,
     dict(OK, dependency_replacements=["gomod:foo"]), {}, koji.ParameterError,
     "'pkg_manager:name:version[:new_name]'"),
    ("userdata a list", SRC, TARGET, dict(OK, userdata=[1]), {}, koji.ParameterError,
     "'userdata': must be a mapping"),
    ("userdata too big", SRC, TARGET, dict(OK, userdata={"a": HUGE}), {}, koji.ParameterError,
     "'userdata': must be a mapping (JSON object) of at most 64 KiB"),
    ("no git_branch", SRC, TARGET, {}, {}, koji.ParameterError, "Git branch must be specified"),
    ("empty git_branch", SRC, TARGET, {"git_branch": ""}, {}, koji.ParameterError,
     "Git branch must be specified"),
    ("rpkg nil git_branch", SRC, TARGET, dict(RPKG_CONTAINER_UNSET, git_branch=None), {},
     koji.ParameterError, "Git branch must be specified"),
    ("triggered_after_koji_task negative", SRC, TARGET, dict(OK, triggered_after_koji_task=-1),
     {}, koji.ParameterError, "'triggered_after_koji_task'"),
    ("opts a list", SRC, TARGET, ["git_branch"], {}, koji.ParameterError,
     "Invalid opts: must be a mapping"),
    ("opts a string", SRC, TARGET, "scratch", {}, koji.ParameterError, "Invalid opts"),
    ("nested garbage", SRC, TARGET, dict(OK, compose_ids=[[1, {"a": None}]]), {},
     koji.ParameterError, "'compose_ids'"),
    ("huge branch", SRC, TARGET, {"git_branch": HUGE}, {}, koji.ParameterError, "'git_branch'"),
    ("src not a string", 42, TARGET, OK, {}, koji.ParameterError,
     "Invalid source URL: must be a string"),
    ("src without ref", "git+https://src.example.org/container/foo.git", TARGET, OK, {},
     koji.ParameterError, "expected scheme://[user@]host/path[?query]#ref"),
    ("src empty ref", "git+https://src.example.org/container/foo.git#", TARGET, OK, {},
     koji.ParameterError, "Invalid source URL"),
    ("src with whitespace", "git+https://src.example.org/container/f oo.git#abc", TARGET, OK, {},
     koji.ParameterError, "whitespace or control characters"),
    ("src with newline", "git+https://src.example.org/x.git#abc\nrm", TARGET, OK, {},
     koji.ParameterError, "whitespace or control characters"),
    ("src svn scheme", "svn+https://svn.example.org/repo#12", TARGET, OK, {},
     koji.ParameterError, "scheme svn+https:// is not allowed"),
    ("src file scheme", "file:///srv/git/foo.git#abc", TARGET, OK, {}, koji.ParameterError,
     "Invalid source URL"),
    ("src huge", "git+https://h/" + HUGE + "#a", TARGET, OK, {}, koji.ParameterError,
     "longer than 4096"),
    ("target not a string", SRC, ["t"], OK, {}, koji.ParameterError, "Invalid target"),
    ("target empty", SRC, "", OK, {}, koji.ParameterError, "Invalid target"),
    ("priority a string", SRC, TARGET, OK, {"priority": "5"}, koji.ParameterError,
     "Invalid priority '5'"),
    ("priority a bool", SRC, TARGET, OK, {"priority": True}, koji.ParameterError,
     "Invalid priority True"),
    ("channel a list", SRC, TARGET, OK, {"channel": ["container"]}, koji.ParameterError,
     "Invalid channel"),
]

SOURCE_REFUSALS = [
    ("neither id nor nvr", TARGET, {"scratch": True}, {}, "give koji_build_id"),
    ("id as a string", TARGET, {"koji_build_id": "123"}, {},
     "'koji_build_id': must be a Koji build id"),
    ("nvr empty", TARGET, {"koji_build_nvr": ""}, {}, "'koji_build_nvr'"),
    ("unknown key", TARGET, {"koji_build_id": 1, "git_branch": "f39"}, {},
     "Unknown build option 'git_branch'"),
    ("userdata not a mapping", TARGET, {"koji_build_id": 1, "userdata": "x"}, {}, "'userdata'"),
    ("opts not a mapping", TARGET, 7, {}, "Invalid opts"),
    ("target garbage", {"a": 1}, {"koji_build_id": 1}, {}, "Invalid target"),
]


def _one_line(exc):
    text = str(exc)
    assert "\n" not in text, text
    return text


@pytest.mark.parametrize("name,src,target,opts,kwargs,exc,text", IMAGE_REFUSALS,
                         ids=[r[0] for r in IMAGE_REFUSALS])
def test_bad_image_requests_are_refused(hub_env, name, src, target, opts, kwargs, exc, text):
    fake, _, plugin = hub_env
    with pytest.raises(exc) as info:
        plugin.buildContainer(src, target, opts, **kwargs)
    assert text in _one_line(info.value)
    assert fake.tasks == []


@pytest.mark.parametrize("name,target,opts,kwargs,text", SOURCE_REFUSALS,
                         ids=[r[0] for r in SOURCE_REFUSALS])
def test_bad_source_requests_are_refused(hub_env, name, target, opts, kwargs, text):
    fake, _, plugin = hub_env
    with pytest.raises(koji.ParameterError) as info:
        plugin.buildSourceContainer(target, opts, **kwargs)
    assert text in _one_line(info.value)
    assert fake.tasks == []


# ----------------------------------------------------------------------------- generated

def _garbage(rng: random.Random, depth: int = 0):
    """A random XML-RPC-representable value (what a hostile or buggy client can send)."""
    kinds = ["none", "bool", "int", "bigint", "float", "str", "huge", "ctrl", "date", "bytes"]
    if depth < 2:
        kinds += ["list", "dict"]
    kind = rng.choice(kinds)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-5, 5)
    if kind == "bigint":
        return rng.choice([2**31 - 1, -(2**31)])
    if kind == "float":
        return rng.uniform(-1e6, 1e6)
    if kind == "str":
        return rng.choice(["", "x", "f39", "1.1", "git://h/p#r", "https://r.example.org/a.repo",
                           "a:b:c", "x86_64 aarch64", "../../etc/passwd"])
    if kind == "huge":
        return "y" * rng.choice([5000, 70000])
    if kind == "ctrl":
        return "a\x00b\tc\n"
    if kind == "date":
        return datetime.datetime(2021, 6, 9, 10, 10, 10)
    if kind == "bytes":
        return xmlrpc.client.Binary(b"\x00\xff")
    if kind == "list":
        return [_garbage(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["a", "scratch", "", "git_branch"]): _garbage(rng, depth + 1)
            for _ in range(rng.randint(0, 3))}


IMAGE_KEYS = ["scratch", "isolated", "flatpak", "skip_build", "git_branch", "release",
              "koji_parent_build", "yum_repourls", "compose_ids", "signing_intent",
              "dependency_replacements", "arch_override", "userdata",
              "operator_csv_modifications_url", "triggered_after_koji_task", "push_url"]
SOURCE_KEYS = ["scratch", "koji_build_id", "koji_build_nvr", "signing_intent", "userdata"]

# Values that can never be valid for the slot, so every generated call must be refused.
NEVER_VALID = {
    "src": lambda rng: rng.choice([None, 1, "no-scheme", "git://h/p", "svn://h/p#1",
                                   "git://h/p#a b", ["git://h/p#r"], {"u": 1}, "y" * 5000]),
    "target": lambda rng: rng.choice([None, "", 3, [TARGET], {"t": 1}, "t\n", "z" * 300,
                                      "unknown-target"]),
    "opts": lambda rng: rng.choice([[1], "opts", 5, True, {1: 2}]),
    "priority": lambda rng: rng.choice(["5", 1.5, [1], {"p": 1}, True, -3, 2**31 - 1]),
    "channel": lambda rng: rng.choice([[1], {"c": 1}, 1.5, True, "no-such-channel", "c" * 300]),
    "opt": lambda rng, key: {"__unknown__": _garbage(rng)} if key is None else None,
}


def _bad_value_for(rng, key, kind):
    """Pick a value for an opts key that the contract must refuse."""
    bad = {
        "scratch": ["yes", 1, 0, [], {}], "isolated": ["true", 1], "flatpak": [1, "x"],
        "skip_build": ["no", 0], "git_branch": [1, ["f39"], {}, "y" * 5000],
        "release": ["", "1..2", "-1", 1, "a1", "1 2"], "koji_parent_build": [1, ["n"]],
        "yum_repourls": ["https://a/b.repo", [1], ["ftp://a/b"], ["file:///x"]],
        "compose_ids": [["1"], "1", [1.5], [None]], "signing_intent": [1, ["r"]],
        "dependency_replacements": [["a:b"], "a:b:c", [1]],
        "arch_override": [["x86_64"], "x86_64,aarch64", 1],
        "userdata": ["x", [1], 1, {"a": "y" * 70000}],
        "operator_csv_modifications_url": ["ftp://a", 1, "not a url"],
        "triggered_after_koji_task": [-1, "1", 1.5],
        "push_url": [1, ["u"]],
        "koji_build_id": ["123", 0, -1, 1.5, None], "koji_build_nvr": ["", 1, ["n"]],
    }[key]
    if kind == "source" and key == "signing_intent":
        return rng.choice([1, ["r"]])
    return rng.choice(bad)


def _malformed_call(rng):
    """(method, args, kwargs) with at least one element the contract must refuse."""
    method = rng.choice(["buildContainer", "buildSourceContainer"])
    if method == "buildContainer":
        slots = {"src": SRC, "target": TARGET,
                 "opts": {k: _garbage(rng) for k in rng.sample(IMAGE_KEYS, rng.randint(0, 5))}}
        slots["opts"]["git_branch"] = "f39"
        keys = IMAGE_KEYS
    else:
        slots = {"target": TARGET,
                 "opts": {k: _garbage(rng) for k in rng.sample(SOURCE_KEYS, rng.randint(0, 3))}}
        slots["opts"]["koji_build_id"] = 7
        keys = SOURCE_KEYS
    kwargs = {}
    if rng.random() < 0.5:
        kwargs["priority"] = rng.choice([None, 0, 5])
    # Now break at least one slot with a value that can never be valid.
    breakable = [s for s in slots] + ["priority", "channel", "opt"]
    for slot in rng.sample(breakable, rng.randint(1, 3)):
        if slot in ("priority", "channel"):
            kwargs[slot] = NEVER_VALID[slot](rng)
        elif slot == "opt":
            key = rng.choice(keys + [None])
            if not isinstance(slots["opts"], dict):
                continue  # opts itself is already broken
            if key is None:
                slots["opts"]["__unknown__"] = _garbage(rng)
            else:
                slots["opts"][key] = _bad_value_for(
                    rng, key, "image" if method == "buildContainer" else "source")
        else:
            slots[slot] = NEVER_VALID[slot](rng)
    args = list(slots.values())
    return method, args, kwargs


def test_generated_malformed_calls_raise_only_koji_faults_and_make_no_task(hub_env):
    fake, session, plugin = hub_env
    rng = random.Random(20261128)
    calls = 0
    for _ in range(1200):
        method, args, kwargs = _malformed_call(rng)
        func = getattr(plugin, method)
        with pytest.raises(koji.GenericError) as info:
            func(*args, **kwargs)
        assert "\n" not in str(info.value), (method, args, kwargs)
        assert "internal error" not in str(info.value), (method, args, kwargs, info.value)
        calls += 1
    assert calls == 1200
    assert fake.tasks == []
