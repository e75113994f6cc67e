"""pytest-podnet: prove the Pod-networking guarantees on a real Kubernetes cluster."""

from __future__ import annotations

__version__ = "0.1.0"
