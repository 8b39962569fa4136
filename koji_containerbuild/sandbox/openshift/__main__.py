"""``python -m koji_containerbuild.sandbox.openshift``: the simulator as a process."""

import sys

from koji_containerbuild.sandbox.openshift.simulator import main

sys.exit(main())
