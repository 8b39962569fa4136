"""sandbox/demo/: ``make demo``, one real build through all three plugins on loopback. May
import the rest of the sandbox and the package. Run it: ``python -m`` this package.
"""
