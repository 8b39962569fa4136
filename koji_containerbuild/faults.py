"""The builder's own Koji fault types, with upstream's fault codes so existing tooling that
matches ``Fault 2001``/``2002`` keeps working (reference/upstream-features.md §1.1)."""

from __future__ import annotations

import koji


class ContainerError(koji.GenericError):
    """The OpenShift build failed, or could not be run."""

    faultCode = 2001


class ContainerCancelled(koji.GenericError):
    """The OpenShift build was cancelled on the cluster side."""

    faultCode = 2002
