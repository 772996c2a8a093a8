"""Random numbers that are reproducible: one seed gives bitwise-identical runs on the CPU.

Every draw comes from a :class:`Generator` — NumPy's PCG64 bit generator on the
host — and is then cast to the requested dtype and moved to the requested
device. Draws therefore do not depend on the device: ``normal((3,), device="opencl:0")``
holds the same numbers as on ``cpu``, and a run reseeded with
:func:`manual_seed` repeats itself exactly (weight initialisation, dropout
masks, data shuffling).

>>> import xpgrad as xg
>>> _ = xg.manual_seed(0)
>>> a = xg.random.normal((2, 3))
>>> _ = xg.manual_seed(0)
>>> bool(xg.all(a == xg.random.normal((2, 3))))
True

The state is a plain JSON-serialisable dict (:func:`get_state`,
:func:`set_state`), so it goes into checkpoints without pickle.
"""

from __future__ import annotations

import copy as _copy
import operator
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .core.errors import OpError
from .core.tensor import Tensor

__all__ = ["Generator", "manual_seed", "seed", "default_generator", "get_state", "set_state",
           "normal", "uniform", "randint", "permutation", "bernoulli"]

DEFAULT_FLOAT = "float32"


def _shape(op: str, shape: Any) -> tuple[int, ...]:
    try:
        shape = (operator.index(shape),) if not isinstance(shape, (tuple, list)) else \
            tuple(operator.index(s) for s in shape)
    except TypeError:
        raise OpError(f"random.{op}: shape must be an int or a sequence of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise OpError(f"random.{op}: shape {shape} has a negative size")
    return shape


def _tensor(values: np.ndarray, dtype: Any, device: Any) -> Tensor:
    return Tensor(values, dtype=dtype, device=device)


class Generator:
    """A stream of random numbers with its own seed and state (PCG64 on the host).

    >>> g = Generator(7)
    >>> g.uniform((2,)).shape
    (2,)
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._seed = seed

    def manual_seed(self, seed: int) -> "Generator":
        """Restart this stream from ``seed``; returns the generator."""
        seed = operator.index(seed)
        if seed < 0:
            raise OpError(f"manual_seed: the seed must be a non-negative int, got {seed}")
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._seed = seed
        return self

    def initial_seed(self) -> int | None:
        return self._seed

    def get_state(self) -> dict:
        """The state as a JSON-serialisable dict (save it to resume the stream later)."""
        return {"bit_generator": "PCG64", "seed": self._seed,
                "state": _copy.deepcopy(self._rng.bit_generator.state)}

    def set_state(self, state: dict) -> None:
        """Continue from a state :meth:`get_state` returned."""
        try:
            if state["bit_generator"] != "PCG64":
                raise ValueError(f"bit generator {state['bit_generator']!r}")
            bg = np.random.PCG64()
            bg.state = _copy.deepcopy(state["state"])
        except (KeyError, TypeError, ValueError) as exc:
            raise OpError(f"random.set_state: not a state from xpgrad.random.get_state ({exc})") from None
        self._rng = np.random.Generator(bg)
        self._seed = state.get("seed")

    def _stream(self) -> np.random.Generator:
        """The NumPy generator to draw from, once the watchers (``watch_draws``) have seen this draw."""
        for w in _WATCH.stack:
            w(self)
        return self._rng

    # -- draws -------------------------------------------------------------
    def normal(self, shape: Any = (), *, mean: float = 0.0, std: float = 1.0, dtype: Any = None,
               device: Any = None) -> Tensor:
        """Normal draws of ``shape`` (``dtype`` default float32)."""
        v = self._stream().standard_normal(_shape("normal", shape))
        if std != 1.0 or mean != 0.0:
            v = v * std + mean
        return _tensor(v, dtype or DEFAULT_FLOAT, device)

    def uniform(self, shape: Any = (), *, low: float = 0.0, high: float = 1.0, dtype: Any = None,
                device: Any = None) -> Tensor:
        """Uniform draws in ``[low, high)`` (``dtype`` default float32)."""
        v = self._stream().random(_shape("uniform", shape))
        if low != 0.0 or high != 1.0:
            v = v * (high - low) + low
        return _tensor(v, dtype or DEFAULT_FLOAT, device)

    def randint(self, low: int, high: int, shape: Any = (), *, dtype: Any = "int64",
                device: Any = None) -> Tensor:
        """Integers in ``[low, high)``."""
        if high <= low:
            raise OpError(f"random.randint: high ({high}) must be greater than low ({low})")
        return _tensor(self._stream().integers(low, high, _shape("randint", shape)), dtype, device)

    def permutation(self, n: int, *, dtype: Any = "int64", device: Any = None) -> Tensor:
        """A random ordering of ``0 … n−1`` (for shuffling data)."""
        return _tensor(self._stream().permutation(operator.index(n)), dtype, device)

    def bernoulli(self, p: float, shape: Any = (), *, dtype: Any = None, device: Any = None) -> Tensor:
        """1 with probability ``p``, else 0, in a floating dtype (default float32): dropout masks."""
        if not 0.0 <= p <= 1.0:
            raise OpError(f"random.bernoulli: p must be in [0, 1], got {p}")
        return _tensor(self._stream().random(_shape("bernoulli", shape)) < p, dtype or DEFAULT_FLOAT, device)

    def numpy(self) -> np.random.Generator:
        """The underlying NumPy generator (host-side draws that share this stream)."""
        return self._stream()

    def __repr__(self) -> str:
        return f"Generator(seed={self._seed})"


_DEFAULT = Generator()


class _Watch(threading.local):
    stack: tuple = ()


# Watchers of this thread's draws (``checkpoint`` records and replays the streams a region uses).
_WATCH = _Watch()


def watch_draws(watcher: Any) -> "_Watching":
    """``with watch_draws(w):`` calls ``w(generator)`` before the first draw of each draw in the block.

    How :func:`xpgrad.checkpoint` sees which generators a region draws from, so that
    recomputing it draws the same numbers (dropout replays its mask).
    """
    return _Watching(watcher)


class _Watching:
    def __init__(self, watcher: Any) -> None:
        self.watcher = watcher

    def __enter__(self) -> Any:
        _WATCH.stack = _WATCH.stack + (self.watcher,)
        return self.watcher

    def __exit__(self, *exc: Any) -> None:
        st = _WATCH.stack
        i = len(st) - 1 - st[::-1].index(self.watcher)
        _WATCH.stack = st[:i] + st[i + 1:]


def default_generator() -> Generator:
    """The generator every function here, and ``nn``'s initialisers and dropout, use by default."""
    return _DEFAULT


def manual_seed(seed: int) -> Generator:
    """Seed the default generator: two runs with one seed draw the same numbers, bit for bit."""
    return _DEFAULT.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from the operating system's entropy; returns the seed."""
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    _DEFAULT.manual_seed(s)
    return s


def get_state() -> dict:
    """The default generator's state (JSON-serialisable)."""
    return _DEFAULT.get_state()


def set_state(state: dict) -> None:
    """Restore the default generator's state."""
    _DEFAULT.set_state(state)


def _gen(generator: Generator | None) -> Generator:
    return _DEFAULT if generator is None else generator


def normal(shape: Any = (), *, mean: float = 0.0, std: float = 1.0, dtype: Any = None, device: Any = None,
           generator: Generator | None = None) -> Tensor:
    """Normal draws from ``generator`` (default: the default generator)."""
    return _gen(generator).normal(shape, mean=mean, std=std, dtype=dtype, device=device)


def uniform(shape: Any = (), *, low: float = 0.0, high: float = 1.0, dtype: Any = None, device: Any = None,
            generator: Generator | None = None) -> Tensor:
    """Uniform draws in ``[low, high)``."""
    return _gen(generator).uniform(shape, low=low, high=high, dtype=dtype, device=device)


def randint(low: int, high: int, shape: Sequence[int] | int = (), *, dtype: Any = "int64",
            device: Any = None, generator: Generator | None = None) -> Tensor:
    """Integers in ``[low, high)``."""
    return _gen(generator).randint(low, high, shape, dtype=dtype, device=device)


def permutation(n: int, *, dtype: Any = "int64", device: Any = None,
                generator: Generator | None = None) -> Tensor:
    """A random ordering of ``0 … n−1``."""
    return _gen(generator).permutation(n, dtype=dtype, device=device)


def bernoulli(p: float, shape: Any = (), *, dtype: Any = None, device: Any = None,
              generator: Generator | None = None) -> Tensor:
    """0/1 draws, 1 with probability ``p``."""
    return _gen(generator).bernoulli(p, shape, dtype=dtype, device=device)
