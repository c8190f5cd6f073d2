"""The ``brokencmd`` command (``pvc.cli: brokencmd``): fails to import; ``pvc`` must list it as broken."""

raise ImportError("brokencmd is broken on purpose")
