"""The embedded real cluster: upstream Kubernetes from Go modules, nodes in network namespaces.

This package knows nothing of pytest; the plugin and the ``podnet`` command drive it.
"""
