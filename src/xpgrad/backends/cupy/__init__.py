"""The CuPy backend: CUDA devices ``cuda:0``, ``cuda:1``...

Installed with ``pip install xpgrad[cuda]``. The namespace is
``array_api_compat.cupy``; fused CUDA kernels (``kernels.py``, compiled by
NVRTC on first use) replace the generic forward of ``softmax``,
``log_softmax`` and ``logsumexp`` along the last axis.

Nothing here imports CuPy until the ``cuda`` family is loaded (first use of a
``cuda:N`` device string, or ``xpgrad.devices()``), so ``import xpgrad`` stays
fast and works where CuPy is not installed. ``backend.py`` is the module that
imports CuPy.

Known limit: ops run under CuPy's *current* device, so arrays on ``cuda:1``
are computed on while ``cupy.cuda.Device(1)`` is current (``with
cupy.cuda.Device(1): ...``), as with CuPy itself.
"""
