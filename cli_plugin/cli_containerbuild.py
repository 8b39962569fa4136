"""koji CLI plugin: ``container-build``, ``flatpak-build``, ``source-container-build``.

``pip install koji-containerbuild`` puts this file into ``<site-packages>/koji_cli_plugins``,
which the koji CLI of the same environment scans. Where that directory is not scanned (koji
from the distribution, the package installed elsewhere), add this file's directory to
``plugin_paths`` in the koji profile. All logic is in ``koji_containerbuild.cli.commands``.
"""

from koji.plugin import export_cli

from koji_containerbuild.cli import commands


@export_cli
def handle_container_build(goptions, session, args):
    "[build] Build a container image (in a DistGit checkout: from HEAD)"
    return commands.container_build(goptions, session, args)


@export_cli
def handle_flatpak_build(goptions, session, args):
    "[build] Build a flatpak"
    return commands.flatpak_build(goptions, session, args)


@export_cli
def handle_source_container_build(goptions, session, args):
    "[build] Build a source container image of an image build"
    return commands.source_container_build(goptions, session, args)
