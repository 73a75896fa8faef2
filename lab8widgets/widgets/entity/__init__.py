"""EntityLab: entity embeddings of store sales, as a lab package.

``lab.py`` holds the lab's data, runs, public API and live model; ``states``, ``calendars``,
``sizes`` and ``panels`` are the panels it composes (each given explicit inputs and callbacks).
"""

from .lab import EntityLab

__all__ = ["EntityLab"]
