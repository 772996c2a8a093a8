"""Sorting, searching and set functions: conventions by hand, properties against NumPy, errors.

The op table (tests/ops/test_op_table.py) checks sort's gradients to second order on every
device; here: the tie convention, the standard's signatures and result types, NaN handling,
and that the rules are pure Array API (they run on array-api-strict).
"""

import inspect

import array_api_strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.ops import sorting as So
from xpgrad.testing import check_grads

NAN = float("nan")


def leaf(values):
    return xg.asarray(values, dtype=xg.float64, requires_grad=True)


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize("name", ["sort", "argsort", "searchsorted", "nonzero", "count_nonzero",
                                  "unique_all", "unique_counts", "unique_inverse", "unique_values", "isin"])
def test_signature_is_the_standards(name):
    ours = inspect.signature(getattr(xg, name)).parameters
    theirs = inspect.signature(getattr(array_api_strict, name)).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == \
        [(p.name, p.kind, p.default) for p in theirs.values()]


def test_named_tuples_have_the_standards_fields():
    x = array_api_strict.asarray([1.0, 2.0, 1.0])
    for name, cls in (("unique_all", xg.UniqueAllResult), ("unique_counts", xg.UniqueCountsResult),
                      ("unique_inverse", xg.UniqueInverseResult)):
        assert cls._fields == getattr(array_api_strict, name)(x)._fields
        assert type(getattr(xg, name)(xg.asarray([1.0, 2.0, 1.0]))) is cls


# ---------------------------------------------------------------- sort: the gradient convention


def test_sort_gradient_goes_back_through_the_permutation():
    x = leaf([3.0, -1.0, 2.0, 0.5])
    y = xg.sort(x)
    assert y.tolist() == [-1.0, 0.5, 2.0, 3.0]
    xg.sum(y * xg.asarray([1.0, 10.0, 100.0, 1000.0])).backward()
    assert x.grad.tolist() == [1000.0, 1.0, 100.0, 10.0]


def test_sort_gradient_on_ties_follows_the_stable_order():
    # sort([1, 3, 1]) = [1, 1, 3]: the first 1 (input order) gets slot 0, the second slot 1
    for stable in (True, False):
        x = leaf([1.0, 3.0, 1.0])
        xg.sum(xg.sort(x, stable=stable) * xg.asarray([10.0, 20.0, 30.0])).backward()
        assert x.grad.tolist() == [10.0, 30.0, 20.0]


def test_sort_descending_gradient_on_ties_keeps_input_order():
    # descending: [3, 1, 1]; equal elements stay in input order, as the standard says
    x = leaf([1.0, 3.0, 1.0])
    y = xg.sort(x, descending=True)
    assert y.tolist() == [3.0, 1.0, 1.0]
    xg.sum(y * xg.asarray([10.0, 20.0, 30.0])).backward()
    assert x.grad.tolist() == [20.0, 10.0, 30.0]


def test_sort_jvp_takes_the_tangent_along_the_permutation():
    _, t = xg.jvp(lambda v: xg.sort(v, axis=0), (xg.asarray([[2.0, 0.0], [1.0, 5.0]]),),
                  (xg.asarray([[10.0, 20.0], [30.0, 40.0]]),))
    assert t.tolist() == [[30.0, 20.0], [10.0, 40.0]]


def test_sort_nan_goes_last_and_its_gradient_follows():
    x = leaf([NAN, 1.0, -2.0])
    y = xg.sort(x)
    assert np.isnan(y.numpy()[2]) and y.tolist()[:2] == [-2.0, 1.0]
    xg.sum(y * xg.asarray([1.0, 2.0, 3.0])).backward()
    assert x.grad.tolist() == [3.0, 2.0, 1.0]


def test_sort_second_order_along_an_inner_axis():
    x = xg.asarray(np.random.default_rng(3).standard_normal((3, 4, 2)))
    check_grads(lambda v: xg.sort(v, axis=1, descending=True) ** 2, [x], order=2)


def test_sort_matches_torch_gradient():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((4, 5))
    w = np.random.default_rng(1).standard_normal((4, 5))
    for axis, desc in ((0, False), (1, True)):
        ours = leaf(x)
        xg.sum(xg.sort(ours, axis=axis, descending=desc) * xg.asarray(w)).backward()
        t = torch.tensor(x, requires_grad=True)
        (torch.sort(t, dim=axis, descending=desc, stable=True).values * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), t.grad.numpy())


# ---------------------------------------------------------------- sort, argsort: properties


@st.composite
def array_axis(draw, ties=True):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    tied = ties and draw(st.booleans())
    x = rng.integers(-3, 4, shape).astype(float) if tied else rng.standard_normal(shape)
    return x, draw(st.integers(-len(shape), len(shape) - 1)), draw(st.booleans())


@settings(max_examples=60, deadline=None)
@given(array_axis())
def test_sort_is_sorted_and_a_permutation(case):
    x, axis, desc = case
    y = xg.sort(xg.asarray(x), axis=axis, descending=desc).numpy()
    d = np.diff(y, axis=axis)
    assert np.all(d <= 0) if desc else np.all(d >= 0)
    np.testing.assert_array_equal(np.sort(y, axis=axis), np.sort(x, axis=axis))   # same multiset
    i = xg.argsort(xg.asarray(x), axis=axis, descending=desc).numpy()
    np.testing.assert_array_equal(np.take_along_axis(x, i, axis=axis), y)
    np.testing.assert_array_equal(np.sort(i, axis=axis), np.broadcast_to(
        np.expand_dims(np.arange(x.shape[axis]), tuple(a for a in range(x.ndim) if a != axis % x.ndim)),
        x.shape))                                                                   # a permutation


@settings(max_examples=60, deadline=None)
@given(array_axis())
def test_argsort_is_stable(case):
    x, axis, desc = case
    i = xg.argsort(xg.asarray(x), axis=axis, descending=desc).numpy()
    v = np.take_along_axis(x, i, axis=axis)
    tie = np.diff(v, axis=axis) == 0
    assert np.all(np.diff(i, axis=axis)[tie] > 0)   # equal values keep their input order


@settings(max_examples=30, deadline=None)
@given(array_axis(ties=False))
def test_sort_vjp_is_the_inverse_permutation(case):
    x, axis, desc = case
    g = np.random.default_rng(0).standard_normal(x.shape)
    v = leaf(x)
    xg.sum(xg.sort(v, axis=axis, descending=desc) * xg.asarray(g)).backward()
    i = np.argsort(-x if desc else x, axis=axis, kind="stable")
    expected = np.empty_like(g)
    np.put_along_axis(expected, i, g, axis=axis)
    np.testing.assert_array_equal(v.grad.numpy(), expected)


def test_argsort_ties_by_hand():
    x = xg.asarray([2.0, 1.0, 2.0, 1.0])
    assert xg.argsort(x).tolist() == [1, 3, 0, 2]
    assert xg.argsort(x, descending=True).tolist() == [0, 2, 1, 3]
    assert not xg.argsort(leaf([1.0, 0.0])).requires_grad


# ---------------------------------------------------------------- sort, argsort: errors


def test_sort_errors_name_the_function():
    with pytest.raises(xg.ShapeError, match="'sort'.*0-d"):
        xg.sort(xg.asarray(1.0))
    with pytest.raises(xg.ShapeError, match=r"'argsort': axis 2 is out of range.*\(3, 4\)"):
        xg.argsort(xg.zeros((3, 4)), axis=2)
    with pytest.raises(xg.DTypeError, match="'sort': complex input"):
        xg.sort(xg.asarray([1 + 1j, 2.0]))


# ---------------------------------------------------------------- searchsorted


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-4, 4), min_size=1, max_size=8), st.lists(st.integers(-5, 5), max_size=6),
       st.sampled_from(["left", "right"]))
def test_searchsorted_agrees_with_sorted_insertion(a, v, side):
    x1 = np.sort(np.asarray(a, dtype=float))
    x2 = np.asarray(v, dtype=float)
    i = xg.searchsorted(xg.asarray(x1), xg.asarray(x2), side=side).numpy()
    for k, val in enumerate(x2):
        below, above = x1[:i[k]], x1[i[k]:]
        if side == "left":
            assert np.all(below < val) and np.all(above >= val)
        else:
            assert np.all(below <= val) and np.all(above > val)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-4, 4), min_size=1, max_size=8), st.lists(st.integers(-5, 5), max_size=6))
def test_searchsorted_with_sorter_equals_search_in_the_sorted_array(a, v):
    x1 = np.asarray(a, dtype=float)
    sorter = xg.argsort(xg.asarray(x1))
    got = xg.searchsorted(xg.asarray(x1), xg.asarray(v, dtype=xg.float64), sorter=sorter)
    want = xg.searchsorted(xg.sort(xg.asarray(x1)), xg.asarray(v, dtype=xg.float64))
    assert got.tolist() == want.tolist()


def test_searchsorted_scalar_and_errors():
    a = xg.asarray([1.0, 2.0, 2.0, 3.0])
    r = xg.searchsorted(a, 2.0, side="right")
    assert r.shape == () and int(r) == 3
    assert not xg.searchsorted(leaf([1.0, 2.0]), leaf([1.5])).requires_grad
    with pytest.raises(xg.DTypeError, match="'searchsorted': the float 1.5 next to the integer array"):
        xg.searchsorted(xg.asarray([1, 2]), 1.5)
    assert int(xg.searchsorted(xg.asarray([1, 2, 3]), 2, side="right")) == 2
    with pytest.raises(xg.ShapeError, match="'searchsorted': x1 .* must be 1-D"):
        xg.searchsorted(xg.zeros((2, 2)), a)
    with pytest.raises(xg.OpError, match="side must be 'left' or 'right'"):
        xg.searchsorted(a, a, side="middle")
    with pytest.raises(xg.DTypeError, match="sorter .* integer dtype"):
        xg.searchsorted(a, a, sorter=xg.asarray([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(xg.ShapeError, match="sorter .* must have x1's shape"):
        xg.searchsorted(a, a, sorter=xg.asarray([0, 1]))


# ---------------------------------------------------------------- nonzero, count_nonzero


@settings(max_examples=40, deadline=None)
@given(array_axis())
def test_nonzero_and_count_nonzero_match_numpy(case):
    x, axis, keep = case
    got = xg.nonzero(xg.asarray(x))
    assert isinstance(got, tuple) and len(got) == x.ndim
    for g, w in zip(got, np.nonzero(x)):
        np.testing.assert_array_equal(g.numpy(), w)
    np.testing.assert_array_equal(xg.count_nonzero(xg.asarray(x), axis=axis, keepdims=keep).numpy(),
                                  np.count_nonzero(x, axis=axis, keepdims=keep))
    assert int(xg.count_nonzero(xg.asarray(x))) == np.count_nonzero(x)


def test_nonzero_refuses_0d():
    with pytest.raises(xg.ShapeError, match="'nonzero'.*0-d"):
        xg.nonzero(xg.asarray(2.0))


# ---------------------------------------------------------------- unique_*


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3),
       st.integers(0, 2 ** 16), st.booleans())
def test_unique_all_reconstructs_its_input(shape, seed, nans):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, shape).astype(float)
    if nans:
        x[rng.random(shape) < 0.3] = NAN
    r = xg.unique_all(xg.asarray(x))
    values, idx, inv, counts = (a.numpy() for a in r)
    assert inv.shape == x.shape
    np.testing.assert_array_equal(values[inv], x)                      # values[inverse] == x
    np.testing.assert_array_equal(x.reshape(-1)[idx], values)          # first occurrences
    assert counts.sum() == x.size
    finite = values[~np.isnan(values)]
    assert np.all(np.diff(finite) > 0)                                 # sorted, no repeats
    assert np.sum(np.isnan(values)) == np.sum(np.isnan(x))             # every NaN its own value
    assert np.all(counts[np.isnan(values)] == 1)
    for v, c in zip(finite, counts[~np.isnan(values)]):
        assert c == np.sum(x == v)
    r2 = xg.unique_inverse(xg.asarray(x))
    np.testing.assert_array_equal(r2.values.numpy()[r2.inverse_indices.numpy()], x)
    np.testing.assert_array_equal(xg.unique_values(xg.asarray(x)).numpy(), values)
    np.testing.assert_array_equal(xg.unique_counts(xg.asarray(x)).counts.numpy(), counts)


def test_unique_results_do_not_require_grad():
    x = leaf([2.0, 1.0, 2.0])
    for r in (xg.unique_all(x), xg.unique_counts(x), xg.unique_inverse(x), (xg.unique_values(x),)):
        assert not any(a.requires_grad for a in r)


# ---------------------------------------------------------------- isin


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3), max_size=8), st.lists(st.integers(-3, 3), max_size=5), st.booleans())
def test_isin_matches_membership(a, b, invert):
    want = np.asarray([(v in b) != invert for v in a], dtype=bool)
    got = xg.isin(xg.asarray(a, dtype=xg.int64), xg.asarray(b, dtype=xg.int64), invert=invert)
    np.testing.assert_array_equal(got.numpy(), want)
    # the fallback for 2024.12 namespaces agrees, on floats too
    fb = So._isin_by_sorting(array_api_strict, array_api_strict.asarray(np.asarray(a, dtype=float)),
                             array_api_strict.asarray(np.asarray(b, dtype=float)), invert)
    np.testing.assert_array_equal(np.asarray(fb), want)


def test_isin_nan_is_never_found_and_scalars():
    x = xg.asarray([1.0, NAN, 2.5])
    assert xg.isin(x, xg.asarray([NAN, 2.5])).tolist() == [False, False, True]
    assert xg.isin(x, xg.asarray([NAN]), invert=True).tolist() == [True, True, True]
    fb = So._isin_by_sorting(array_api_strict, array_api_strict.asarray([1.0, NAN, 2.5]),
                             array_api_strict.asarray([NAN, 2.5]), False)
    assert np.asarray(fb).tolist() == [False, False, True]
    assert xg.isin(xg.asarray([[1, 2], [3, 1]]), 1).tolist() == [[True, False], [False, True]]
    assert bool(xg.isin(3, xg.asarray([1, 3])))
    with pytest.raises(xg.DTypeError, match="'isin'"):
        xg.isin(1, 2)
    with pytest.raises(xg.DTypeError, match="'isin': the float 2.5 next to the integer array"):
        xg.isin(xg.asarray([1, 2]), 2.5)
    assert xg.isin(xg.asarray([1.0, 2.5]), 2.5).tolist() == [False, True]


# ---------------------------------------------------------------- the rules are pure Array API


def test_sort_rules_run_on_array_api_strict():
    s = array_api_strict
    x = np.random.default_rng(5).standard_normal((3, 4))
    g = np.random.default_rng(6).standard_normal((3, 4))
    for axis, desc in ((0, True), (-1, False)):
        xs = s.asarray(x)
        out = So.sort.forward(s, xs, axis=axis, descending=desc)
        vjp = So.sort.vjps[0](s, s.asarray(g), out, xs, axis=axis, descending=desc)
        jvp = So.sort.jvps[0](s, s.asarray(g), out, xs, axis=axis, descending=desc)
        i = np.argsort(-x if desc else x, axis=axis, kind="stable")
        np.testing.assert_array_equal(np.asarray(jvp), np.take_along_axis(g, i, axis=axis))
        expected = np.empty_like(g)
        np.put_along_axis(expected, i, g, axis=axis)
        np.testing.assert_array_equal(np.asarray(vjp), expected)


# ---------------------------------------------------------------- docstring examples


@pytest.mark.parametrize("module", ["xpgrad.ops.sorting", "xpgrad.ops.reduction"])
def test_docstring_examples_run(module):
    """Ops are objects, not functions, so doctest's module scan misses them: run every docstring."""
    import doctest
    import importlib

    mod = importlib.import_module(module)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    seen = 0
    for name, obj in vars(mod).items():
        if getattr(obj, "__module__", None) != module or not getattr(obj, "__doc__", None):
            continue
        for test in finder.find(obj, name, globs=dict(vars(mod))):
            seen += len(test.examples)
            runner.run(test)
    assert seen > 5 and runner.summarize(verbose=False).failed == 0
