"""Koji plugins that build layered container images through OpenShift (OSBS 1).

The library under the three thin plugin files. Here, at the top: what every side shares
(``options``, ``config``, ``faults``, ``threads``, ``bytescan``, ``prefixed``) and the hub
side (``hub``); one folder per other part: ``cli/``, ``builder/``, ``logs/``, ``openshift/``,
and ``sandbox/`` for tests and the demo. Nothing outside ``sandbox/`` imports from ``sandbox/``.
"""

__version__ = "0.1.0"
