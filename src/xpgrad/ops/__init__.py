"""Op definitions, one file per family; importing this package registers them all."""

from ..backends import install_kernels
from ..core.registry import complete_all
from . import (activations, creation, elementwise, indexing, linalg, losses, manipulation,  # noqa: F401
               methods, nn, reduction)

methods.install()
complete_all()
install_kernels()  # backends registered their kernels before the ops existed
