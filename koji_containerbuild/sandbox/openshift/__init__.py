"""sandbox/openshift/: the OpenShift 3.9 API simulator (``simulator``), its scenarios and fault
injection, the buildah engine for real images and a loopback registry. Knows no koji; may
import ``builder.labels`` and ``sandbox.distgit``. Run it: ``python -m`` this package.
"""
