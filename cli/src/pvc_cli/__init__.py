"""The ``pvc`` command line."""
