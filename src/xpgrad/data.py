"""Datasets and mini-batches: ``TensorDataset``, ``Subset``, ``random_split``, ``DataLoader``.

The shapes PyTorch users know from ``torch.utils.data``, kept small. Shuffling
draws from :mod:`xpgrad.random`, so a run reseeded with
:func:`xpgrad.manual_seed` (or given its own ``generator``) sees the same
batches in the same order, bit for bit.

A :class:`DataLoader` over a :class:`TensorDataset` (or a :class:`Subset` of
one) gathers each batch with one indexing op per tensor, on the tensors'
device; any other dataset (anything with ``__len__`` and ``__getitem__``) is
read item by item and its items are stacked.

>>> import xpgrad as xg
>>> from xpgrad.data import DataLoader, TensorDataset
>>> ds = TensorDataset(xg.reshape(xg.arange(10.0), (5, 2)), xg.arange(5))
>>> [tuple(y.tolist()) for _, y in DataLoader(ds, batch_size=2)]
[(0, 1), (2, 3), (4,)]
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence
from typing import Any

from .core.errors import OpError, ShapeError
from .core.tensor import Tensor
from .random import Generator, default_generator

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader"]


class Dataset:
    """Anything with ``__len__`` and ``__getitem__(i)``; subclass it or duck-type it."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are rows of tensors that share their first axis (inputs, labels, ...)."""

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise OpError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0] if tensors[0].ndim else None
        for k, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise OpError(f"TensorDataset: argument {k} is a {type(t).__name__}, not a Tensor; "
                              "wrap arrays with xpgrad.asarray")
            if not t.ndim:
                raise ShapeError(f"TensorDataset: tensor {k} is 0-d; every tensor needs a first axis that "
                                 "indexes the samples")
            if t.shape[0] != n:
                raise ShapeError(f"TensorDataset: every tensor needs the same first axis; tensor 0 has "
                                 f"shape {tensors[0].shape} and tensor {k} has {t.shape}")
        self.tensors = tuple(tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: Any) -> tuple:
        return tuple(t[index] for t in self.tensors)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [operator.index(i) for i in indices]
        n = len(dataset)
        bad = [i for i in self.indices if not -n <= i < n]
        if bad:
            raise OpError(f"Subset: indices {bad[:5]} are out of range for a dataset of {n} samples")
        self.indices = [i + n if i < 0 else i for i in self.indices]   # the loader gathers by position

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]


def random_split(dataset: Any, lengths: Sequence[int | float], *,
                 generator: Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into disjoint random subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    if lengths and all(isinstance(v, float) for v in lengths):
        if not math.isclose(sum(lengths), 1.0, abs_tol=1e-9):
            raise OpError(f"random_split: fractions {list(lengths)} must sum to 1")
        sizes = [math.floor(n * f) for f in lengths]
        for k in range(n - sum(sizes)):       # hand out the remainder one by one, as PyTorch does
            sizes[k % len(sizes)] += 1
    else:
        sizes = [operator.index(v) for v in lengths]
    if sum(sizes) != n or min(sizes, default=0) < 0:
        raise OpError(f"random_split: lengths {list(lengths)} do not add up to the dataset's {n} samples")
    order = (generator or default_generator()).permutation(n).tolist()
    out, start = [], 0
    for s in sizes:
        out.append(Subset(dataset, order[start:start + s]))
        start += s
    return out


def _tensor_rows(dataset: Any) -> tuple[tuple[Tensor, ...], list[int] | None] | None:
    """The tensors behind a TensorDataset (or a Subset chain over one) and the row map, else None."""
    rows = None
    while isinstance(dataset, Subset):
        rows = dataset.indices if rows is None else [dataset.indices[i] for i in rows]
        dataset = dataset.dataset
    if isinstance(dataset, TensorDataset):
        return dataset.tensors, rows
    return None


class DataLoader:
    """Mini-batches of a dataset, optionally shuffled every epoch.

    ``len(loader)`` is the number of batches per epoch. ``generator`` (default:
    the default generator of :mod:`xpgrad.random`) decides each epoch's order.
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False, *, drop_last: bool = False,
                 generator: Generator | None = None) -> None:
        batch_size = operator.index(batch_size)
        if batch_size < 1:
            raise OpError(f"DataLoader: batch_size must be a positive int, got {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> list[int]:
        n = len(self.dataset)
        if not self.shuffle:
            return list(range(n))
        return (self.generator or default_generator()).permutation(n).tolist()

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        fast = _tensor_rows(self.dataset)
        bs = self.batch_size
        stop = len(order) - len(order) % bs if self.drop_last else len(order)
        for start in range(0, stop, bs):
            idx = order[start:start + bs]
            if fast is not None:
                tensors, rows = fast
                if rows is not None:
                    idx = [rows[i] for i in idx]
                yield tuple(_gather(t, idx) for t in tensors)
            else:
                yield _collate([self.dataset[i] for i in idx])


def _gather(t: Tensor, idx: list[int]) -> Tensor:
    """Rows ``idx`` of ``t``: a slice when they are consecutive, else one integer-array index."""
    if idx == list(range(idx[0], idx[0] + len(idx))):
        return t[idx[0]:idx[0] + len(idx)]
    from . import asarray

    return t[asarray(idx, device=t.device)]


def _collate(items: list) -> Any:
    from . import asarray, stack

    first = items[0]
    if isinstance(first, tuple | list):
        return type(first)(_collate([it[k] for it in items]) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: _collate([it[k] for it in items]) for k in first}
    if isinstance(first, Tensor):
        return stack(items)
    return asarray(items)
