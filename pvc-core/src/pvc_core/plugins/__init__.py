"""The plugin host: loading plugins (pluggy) and drivers (stevedore), and the typed facade over hooks."""
