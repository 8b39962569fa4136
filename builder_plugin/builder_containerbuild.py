"""kojid plugin: the ``buildContainer`` and ``buildSourceContainer`` task handlers.

Enable with ``plugins = builder_containerbuild`` in /etc/kojid/kojid.conf on the hosts of the
``container`` channel. Settings live in /etc/kojid/plugins/builder_containerbuild.conf and
/etc/osbs.conf. All logic is in ``koji_containerbuild.builder.tasks``.
"""

import koji.tasks

from koji_containerbuild.builder import task_support, tasks


class BuildContainerTask(koji.tasks.BaseTaskHandler):
    """Build a layered image (or flatpak) from a DistGit commit through OpenShift."""

    Methods = ["buildContainer"]
    _taskWeight = 0.2  # the task waits on OpenShift; weight() reads the configured value

    def weight(self):
        return task_support.task_weight()

    def handler(self, src, target, opts=None):
        return tasks.build_container(self, src, target, opts)


class BuildSourceContainerTask(koji.tasks.BaseTaskHandler):
    """Build the source container image of an existing image build through OpenShift."""

    Methods = ["buildSourceContainer"]
    _taskWeight = 0.2

    def weight(self):
        return task_support.task_weight()

    def handler(self, target, opts=None):
        return tasks.build_source_container(self, target, opts)
