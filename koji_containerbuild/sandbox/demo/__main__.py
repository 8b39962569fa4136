"""``python -m koji_containerbuild.sandbox.demo``: see ``run``."""

import sys

from koji_containerbuild.sandbox.demo.run import main

sys.exit(main())
