"""sandbox/: local stand-ins for tests, ``make demo`` and ``bench/``: ``koji/`` (hub, kojid),
``openshift/`` (API simulator, buildah engine, registry), ``distgit``, ``demo/``. May import
anything in the package; the package never imports from here.
"""
