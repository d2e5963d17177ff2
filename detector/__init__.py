"""detector: a log-stream anomaly detector.

It follows logs, recognises known failure signatures with compiled pattern
packs, learns the normal rate of trouble per service, notices error messages of
a new shape, and delivers classified incidents with runbooks.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
