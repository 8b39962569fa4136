"""tools/: generators of documentation (``docs/configuration.md``, ``conf/``) from the code.

Not part of the installed package: neither the wheel nor the RPM ship it.
"""
