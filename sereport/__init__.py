"""sereport: the heartbeat reporter for Sophgo SE3/SE5 AI mini boxes.

Data flow: config -> gateway metrics + device states -> payload -> delivery,
driven by the beat loop.
"""

from __future__ import annotations

__version__ = "0.1.0"
