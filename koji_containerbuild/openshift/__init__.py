"""openshift/: the OpenShift REST layer (render, submit, watch, logs, results) as osbs-client
1.10 does it. May import ``config``; nothing from koji or the other parts.
"""
