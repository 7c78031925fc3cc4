"""CLI commands of an area that needs areas above its own package.

`gridlab profiles` and `gridlab grid` are about strategies but read the store's profiles and
the data's instrument filters; `gridlab.strategy` sits below both, so they live here (the
import-layer test, tests/test_import_layers.py, refuses a package cycle). The other areas'
commands stay in their package (`gridlab/<area>/commands.py`): they only import downwards.
"""
