"""The pytest-podnet conformance suites, one module per guarantee.

Installed as ``pytest_podnet.suites`` (through the symlink ``src/pytest_podnet/suites``), so
``pytest --podnet`` runs them from a plain ``pip install`` when no test path is given, and
``pytest --podnet --pyargs pytest_podnet.suites`` names them explicitly.
"""
