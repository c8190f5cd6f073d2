"""The PVC plugin template: copy this distribution to start a plugin of your own.

What each module is for:

* :mod:`pvc_plugin_template.config` - the plugin's section of the node config (a pydantic model).
* :mod:`pvc_plugin_template.plugin` - the hook implementations pvcd calls (entry point ``pvc.plugins``).
* :mod:`pvc_plugin_template.dns` - a driver for the ``dns`` role (entry point ``pvc.drivers.dns``).
* :mod:`pvc_plugin_template.cli` - the ``pvc template`` subcommand (entry point ``pvc.cli``).

Keep this file empty of imports: the ``pvc`` command imports the package to reach ``cli``, and every
import here would slow down ``pvc --help``.
"""
