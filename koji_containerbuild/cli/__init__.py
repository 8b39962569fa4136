"""cli/: the koji CLI side, the commands and what a DistGit checkout implies.

May import the shared modules at the top of the package; nothing from the other parts.
"""
