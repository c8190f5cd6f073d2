"""The core's own cluster logic, as builtin plugins: registered like any plugin, and blockable.

A node config can block one (``plugins: {disable: [builtin.fence-monitor]}``) and enable a third-party
plugin in its place.
"""
