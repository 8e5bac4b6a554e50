"""The built-in tasks; importing this module registers them."""

from synthloop.generate.tasks.library import responses

__all__ = ["responses"]
