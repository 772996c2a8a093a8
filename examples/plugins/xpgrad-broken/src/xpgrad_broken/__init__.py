"""Deliberately broken xpgrad plugins (a test fixture, not something to use).

* ``xpgrad_broken.plugin`` fails to import;
* ``xpgrad_broken.norules`` imports but returns malformed things: an op
  without rules, a family whose prefix ``cpu`` is taken, a kernel for an op
  that does not exist, and a hook that returns a dict instead of a list.

``import xpgrad`` still works; ``python -m xpgrad info`` names each refusal.
"""
