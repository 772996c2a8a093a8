"""Op definitions, one file per family; importing this package registers them all."""

from ..core.registry import complete_all
from . import creation, elementwise, indexing, linalg, manipulation, methods, nn, reduction  # noqa: F401

methods.install()
complete_all()
