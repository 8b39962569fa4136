"""The builder's own Koji fault types.

Upstream used the fault codes 2001/2002, which the koji CLI and fedpkg do not know: they show
``Fault: <Fault 2001: '...'>`` (reference/rpkg-contract.md §3). Ours keep Koji's own codes so a
packager reads ``BuildError: Image build failed. ...``; the class names stay for callers."""

from __future__ import annotations

import koji


class ContainerError(koji.BuildError):
    """The OpenShift build failed, or could not be run."""


class ContainerCancelled(koji.GenericError):
    """The OpenShift build was cancelled on the cluster side."""
