"""cvzoo: find the best timm backbone x head x recipe for your data without training every cell."""

from __future__ import annotations

__version__ = "0.1.0"
