"""A pytest plugin that imports ``qwenclip_mm`` before any test module.

``pytest -p qwenclip_mm.testing.import_first`` runs a host's test suite as a
user's process runs it once the plugin is loaded; see
``tools/misc/check_host_suite.py``.
"""
import qwenclip_mm  # noqa: F401
