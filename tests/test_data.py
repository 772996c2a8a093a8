"""xpgrad.data: batches, shuffling that a seed repeats, splits, and clear errors."""

import numpy as np
import pytest

import xpgrad as xg
from xpgrad.data import DataLoader, Subset, TensorDataset, random_split


def _ds(n=10):
    return TensorDataset(xg.reshape(xg.arange(2.0 * n), (n, 2)), xg.arange(n))


def test_batches_in_order_cover_everything_once():
    loader = DataLoader(_ds(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 2)
    assert len(DataLoader(_ds(10), batch_size=4, drop_last=True)) == 2
    assert [b[1].tolist() for b in DataLoader(_ds(10), batch_size=4, drop_last=True)] == \
        [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffling_is_a_permutation_each_epoch_and_a_seed_repeats_it():
    loader = DataLoader(_ds(10), batch_size=3, shuffle=True)
    xg.manual_seed(0)
    e1 = [v for _, y in loader for v in y.tolist()]
    e2 = [v for _, y in loader for v in y.tolist()]
    assert sorted(e1) == sorted(e2) == list(range(10)) and e1 != e2
    xg.manual_seed(0)
    assert [v for _, y in loader for v in y.tolist()] == e1
    g1, g2 = xg.random.Generator(4), xg.random.Generator(4)
    a = [y.tolist() for _, y in DataLoader(_ds(10), batch_size=3, shuffle=True, generator=g1)]
    b = [y.tolist() for _, y in DataLoader(_ds(10), batch_size=3, shuffle=True, generator=g2)]
    assert a == b


def test_rows_stay_together():
    x = xg.asarray(np.arange(20.0).reshape(10, 2))
    for xb, yb in DataLoader(TensorDataset(x, xg.arange(10)), batch_size=4, shuffle=True):
        assert np.array_equal(xb.numpy(), x.numpy()[yb.numpy()])


def test_random_split_is_disjoint_and_complete():
    xg.manual_seed(1)
    a, b = random_split(_ds(10), [0.8, 0.2])
    assert (len(a), len(b)) == (8, 2)
    assert sorted(a.indices + b.indices) == list(range(10))
    c, d, e = random_split(_ds(10), [3, 3, 4], generator=xg.random.Generator(0))
    assert sorted(c.indices + d.indices + e.indices) == list(range(10))
    ys = \
        [v for _, y in DataLoader(Subset(c, [2, 0]), batch_size=2) for v in y.tolist()]
    assert ys == [c.indices[2], c.indices[0]]


def test_any_indexable_dataset_is_collated():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return xg.asarray([float(i), float(i * i)]), i

    (x, y), *_ = DataLoader(Squares(), batch_size=5)
    assert x.shape == (5, 2) and y.tolist() == [0, 1, 2, 3, 4]


def test_on_another_device():
    try:
        xg.get_backend("opencl:0")
    except xg.XpgradError as exc:
        pytest.skip(f"opencl:0 is not usable here: {exc}")
    ds = TensorDataset(xg.asarray(np.arange(12.0).reshape(6, 2), device="opencl:0"),
                       xg.asarray(np.arange(6), device="opencl:0"))
    xg.manual_seed(2)
    for xb, yb in DataLoader(ds, batch_size=4, shuffle=True):
        assert xb.device == "opencl:0" and np.array_equal(xb.numpy()[:, 0], 2.0 * yb.numpy())


def test_errors():
    with pytest.raises(xg.ShapeError, match="same first axis"):
        TensorDataset(xg.zeros((3, 2)), xg.zeros((4,)))
    with pytest.raises(xg.OpError, match="not a Tensor"):
        TensorDataset(np.zeros(3))
    with pytest.raises(xg.OpError, match="batch_size"):
        DataLoader(_ds(), batch_size=0)
    with pytest.raises(xg.OpError, match="do not add up"):
        random_split(_ds(10), [3, 3])
    with pytest.raises(xg.OpError, match="sum to 1"):
        random_split(_ds(10), [0.5, 0.2])
    with pytest.raises(xg.OpError, match="out of range"):
        Subset(_ds(3), [0, 5])


def test_a_subset_with_negative_indices_loads_the_same_rows_as_indexing_it():
    ds = TensorDataset(xg.arange(5))
    sub = Subset(ds, [-2, -1, 0])
    assert [int(sub[i][0]) for i in range(3)] == [3, 4, 0]
    assert [v for (y,) in DataLoader(sub, batch_size=2) for v in y.tolist()] == [3, 4, 0]
    with pytest.raises(xg.ShapeError, match="0-d"):
        TensorDataset(xg.asarray(1.0))
