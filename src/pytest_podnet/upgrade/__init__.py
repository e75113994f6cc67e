"""The upgrade gate's middle phase, packaged like the suites (``pytest_podnet.upgrade``)."""
