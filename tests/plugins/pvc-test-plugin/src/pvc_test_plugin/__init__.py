"""A third-party PVC plugin for PVC's cross-package tests (see the distribution's README).

No imports here: ``pvc`` imports this package to reach :mod:`pvc_test_plugin.cli`.
"""
