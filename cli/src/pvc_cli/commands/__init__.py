"""The builtin command groups; each module is imported only when its group is used or listed."""
