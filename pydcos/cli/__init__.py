"""The `pydcos` command: one module per noun (`cluster.py`, ...), one function per verb."""
