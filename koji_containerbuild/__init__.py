"""Koji plugins that build layered container images through OpenShift (OSBS 1).

The library under the three thin plugin files: the options contract, configuration,
the OpenShift layer, log streaming and the hub/builder/CLI logic.
"""

__version__ = "0.1.0"
