"""Moving data between devices, differentiably: the gradient moves back."""

from __future__ import annotations

from ..core.device import get_backend
from ..core.registry import defop
from ..core.tensor import Tensor
from ._structure import S, randn


@defop("to_device")
def _to_device(xp, x, /, *, src, dst):
    return get_backend(dst).from_host(get_backend(src).to_host(x))


_to_device.out_backend = lambda params: get_backend(params["dst"])
_to_device.defvjp(lambda xp, g, out, x, src, dst: _move(xp, g, dst, src))
_to_device.defjvp(lambda xp, t, out, x, src, dst: _move(xp, t, src, dst))
# "@device" is the device under test: a move to the same device, and a round trip through the host.
_to_device.defsamples(S((randn(3, 2),), {"src": "@device", "dst": "@device"}),
                      S((randn(3, 2),), {"src": "@device", "dst": "cpu"}))


def _move(xp, a, src, dst):
    if isinstance(a, Tensor):
        return to_device(a, dst)
    return get_backend(dst).from_host(get_backend(src).to_host(a))


def to_device(x: Tensor, device: str, /) -> Tensor:
    """``x`` on ``device`` (the Array API's ``to_device``); differentiable."""
    b = get_backend(device)
    if b is x._b:
        return x
    return _to_device(x, src=x._b.device, dst=b.device)


Tensor.to_device = lambda self, device, /, *, stream=None: to_device(self, device)
