"""The hub plugin as the hub runs it: loaded by PluginTracker, called with decoded XML-RPC args."""

from __future__ import annotations

import xmlrpc.client

import koji
import koji.tasks
import pytest

from .payloads import IMAGE_PAYLOADS, SOURCE_PAYLOADS, SRC, TARGET


def over_the_wire(func, *args, **kwargs):
    """Marshal the call as koji's ClientSession does and decode it as the hub dispatcher does."""
    params = koji.encode_args(*args, **kwargs) if kwargs else args
    body = koji.xmlrpcplus.dumps(tuple(params), methodname=func.__name__, allow_none=1)
    received, method = xmlrpc.client.loads(body, use_builtin_types=True)
    assert method == func.__name__
    args, kwargs = koji.decode_args(*received)
    return func(*args, **kwargs)


def test_methods_are_exported_for_system_list_methods(hub_env):
    _, _, plugin = hub_env
    for name in ("buildContainer", "buildSourceContainer"):
        func = getattr(plugin, name)
        assert func.exported is True
        assert func.__name__ == name


def test_task_signatures_let_hub_policies_see_src_target_scratch(hub_env):
    params = koji.tasks.parse_task_params(
        "buildContainer", [SRC, TARGET, {"git_branch": "f39", "scratch": True}]
    )
    assert params == {"src": SRC, "target": TARGET,
                      "opts": {"git_branch": "f39", "scratch": True}}
    params = koji.tasks.parse_task_params("buildSourceContainer", [TARGET, {"koji_build_id": 1}])
    assert params == {"target": TARGET, "opts": {"koji_build_id": 1}}


@pytest.mark.parametrize("name,src,opts,priority,channel,expected", IMAGE_PAYLOADS,
                         ids=[p[0] for p in IMAGE_PAYLOADS])
def test_image_payloads_reach_make_task_normalised(hub_env, name, src, opts, priority, channel,
                                                   expected):
    fake, _, plugin = hub_env
    kwargs = {"priority": priority}
    if channel:
        kwargs["channel"] = channel
    task_id = over_the_wire(plugin.buildContainer, src, TARGET, opts, **kwargs)
    assert isinstance(task_id, int)
    [task] = fake.tasks
    assert task["method"] == "buildContainer"
    assert task["arglist"] == [src, TARGET, expected]
    assert task["opts"]["channel"] == (channel or "container")
    if priority:
        assert task["opts"]["priority"] == koji.PRIO_DEFAULT + priority
    else:
        assert "priority" not in task["opts"]


def test_rpkg_and_koji_cli_forms_of_one_request_give_identical_task_params(hub_env):
    fake, _, plugin = hub_env
    rpkg = dict(IMAGE_PAYLOADS[0][2], scratch=True, yum_repourls=["https://r.example.org/a.repo"])
    cli = {"git_branch": "f39", "scratch": True, "yum_repourls": ["https://r.example.org/a.repo"]}
    over_the_wire(plugin.buildContainer, SRC, TARGET, rpkg, priority=None)
    over_the_wire(plugin.buildContainer, SRC, TARGET, cli, priority=None)
    assert fake.tasks[0]["arglist"] == fake.tasks[1]["arglist"]


@pytest.mark.parametrize("name,opts,priority,channel,expected", SOURCE_PAYLOADS,
                         ids=[p[0] for p in SOURCE_PAYLOADS])
def test_source_payloads_reach_make_task(hub_env, name, opts, priority, channel, expected):
    fake, _, plugin = hub_env
    kwargs = {"priority": priority}
    if channel:
        kwargs["channel"] = channel
    over_the_wire(plugin.buildSourceContainer, TARGET, opts, **kwargs)
    [task] = fake.tasks
    assert task["method"] == "buildSourceContainer"
    assert task["arglist"] == [TARGET, expected]
    assert task["opts"]["channel"] == (channel or "container")


def test_opts_may_be_omitted_for_source_builds_only_when_an_id_is_given(hub_env):
    fake, _, plugin = hub_env
    with pytest.raises(koji.ParameterError, match="koji_build_id"):
        plugin.buildSourceContainer(TARGET)
    assert fake.tasks == []


def test_negative_priority_is_for_admins(hub_env):
    fake, session, plugin = hub_env
    with pytest.raises(koji.ActionNotAllowed, match="only admins may create high-priority"):
        plugin.buildContainer(SRC, TARGET, {"git_branch": "f39"}, priority=-5)
    assert fake.tasks == []
    session.perms.add("admin")
    plugin.buildContainer(SRC, TARGET, {"git_branch": "f39"}, priority=-5)
    assert fake.tasks[0]["opts"]["priority"] == koji.PRIO_DEFAULT - 5


def test_login_is_required_before_anything_else(hub_env):
    fake, session, plugin = hub_env
    session.user_id = None
    with pytest.raises(koji.ActionNotAllowed, match="logged in"):
        plugin.buildContainer(SRC, TARGET, {"git_branch": "f39"})
    with pytest.raises(koji.ActionNotAllowed, match="logged in"):
        plugin.buildSourceContainer(TARGET, {"koji_build_id": 1})
    assert fake.tasks == []


def test_configured_permission_is_enforced_and_admin_passes(hub_env, tmp_path):
    fake, session, plugin = hub_env
    (tmp_path / "hub_containerbuild.conf").write_text(
        "[permissions]\nbuild_permission = container-build\n"
    )
    with pytest.raises(koji.ActionNotAllowed, match="container-build permission required"):
        plugin.buildContainer(SRC, TARGET, {"git_branch": "f39"})
    assert fake.tasks == []
    session.perms.add("container-build")
    plugin.buildContainer(SRC, TARGET, {"git_branch": "f39"})
    session.perms = {"admin"}
    plugin.buildSourceContainer(TARGET, {"koji_build_id": 1})
    assert len(fake.tasks) == 2


def test_configured_default_channels(hub_env, tmp_path):
    fake, _, plugin = hub_env
    (tmp_path / "hub_containerbuild.conf").write_text(
        "[tasks]\nimage_channel = container-binary\nsource_channel = container-source\n"
    )
    plugin.buildContainer(SRC, TARGET, {"git_branch": "f39"})
    plugin.buildSourceContainer(TARGET, {"koji_build_id": 1})
    assert [t["opts"]["channel"] for t in fake.tasks] == ["container-binary", "container-source"]


def test_misconfigured_plugin_is_a_clear_fault_naming_the_key(hub_env, tmp_path):
    fake, _, plugin = hub_env
    (tmp_path / "hub_containerbuild.conf").write_text("[permissions]\nbuild_perm = x\n")
    with pytest.raises(koji.GenericError, match=r"misconfigured: .*\[permissions\] build_perm"):
        plugin.buildContainer(SRC, TARGET, {"git_branch": "f39"})
    assert fake.tasks == []


def test_unknown_target_is_refused_before_a_task_exists(hub_env):
    fake, _, plugin = hub_env
    with pytest.raises(koji.GenericError, match="No such build target: nope"):
        plugin.buildContainer(SRC, "nope", {"git_branch": "f39"})
    with pytest.raises(koji.GenericError, match="No such build target: nope"):
        plugin.buildSourceContainer("nope", {"koji_build_id": 1})
    assert fake.tasks == []


def test_a_bug_below_the_plugin_becomes_a_generic_fault(hub_env, monkeypatch):
    fake, _, plugin = hub_env

    def broken(*args, **kwargs):
        raise KeyError("dest_tag")

    monkeypatch.setattr(fake, "get_build_target", broken)
    with pytest.raises(koji.GenericError, match="internal error") as info:
        plugin.buildContainer(SRC, TARGET, {"git_branch": "f39"})
    assert type(info.value) is koji.GenericError
