"""The ``brokenplugin`` plugin (``pvc.plugins: brokenplugin``): installed, and fails to import.

pvcd must ignore it unless a node config enables it, and then stop with one line naming it.
"""

raise ImportError("brokenplugin is broken on purpose")
