"""sandbox/koji/: the Koji stand-ins, a hub speaking XML-RPC (``hub*``) and kojid running
the real task manager (``kojid*``). May import ``sandbox.procs`` and the package's ``hub``.
"""
