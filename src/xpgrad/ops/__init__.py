"""Op definitions, one file per family; importing this package registers them all."""

from ..backends import install_kernels
from ..core.registry import complete_all
from . import (activations, creation, decomp, elementwise, fft, indexing, linalg, losses,  # noqa: F401
               manipulation, matrix, methods, nn, reduction, sorting)

methods.install()
complete_all()
install_kernels()  # backends registered their kernels before the ops existed
