"""Koji hub plugin: exports ``buildContainer`` and ``buildSourceContainer``.

Enable with ``Plugins = hub_containerbuild`` in /etc/koji-hub/hub.conf. Settings live in
/etc/koji-hub/plugins/hub_containerbuild.conf. All logic is in ``koji_containerbuild.hub``.
"""

import kojihub
from koji.context import context
from koji.plugin import export

from koji_containerbuild import hub

hub.register_task_signatures()


@export
def buildContainer(src, target, opts=None, priority=None, channel=None):  # noqa: N802
    """Create a container image build task.

    :param str src: DistGit source URL, ``git+https://host/container/NAME.git#SHA``
    :param str target: build target name
    :param dict opts: build options (scratch, isolated, git_branch, release, ...)
    :param int priority: offset from the default priority; negative (higher) for admins only
    :param str channel: channel to request; default from the plugin configuration
    :returns: task id
    """
    return hub.build_container(kojihub, context.session, src, target, opts, priority, channel)


@export
def buildSourceContainer(target, opts=None, priority=None, channel=None):  # noqa: N802
    """Create a source container build task for an existing image build.

    :param str target: build target name
    :param dict opts: koji_build_id and/or koji_build_nvr, scratch, signing_intent, userdata
    :param int priority: offset from the default priority; negative (higher) for admins only
    :param str channel: channel to request; default from the plugin configuration
    :returns: task id
    """
    return hub.build_source_container(kojihub, context.session, target, opts, priority, channel)
