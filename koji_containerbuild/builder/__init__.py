"""builder/: the kojid side, both task flows from checks and checkout to the build's result.

May import the shared modules at the top of the package, ``logs/`` and ``openshift/``.
"""
