"""The ``brokenfence`` fencing driver (``pvc.drivers.fencing: brokenfence``): fails to import.

Choosing it (``drivers: {fencing: brokenfence}``) must stop pvcd with one line naming the role and driver.
"""

raise ImportError("brokenfence is broken on purpose")
