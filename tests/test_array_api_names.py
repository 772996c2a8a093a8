"""Every name of the Array API standard is in xpgrad, with a signature that accepts every standard call.

The reference is array-api-strict, the standard's executable specification, with its 2025.12 flags on:
its main namespace (``array_api_strict.__all__``), its ``linalg`` and ``fft`` extensions (their
``__all__``, plus ``linalg.eig``/``linalg.eigvals``, which 2025.12 adds but array-api-strict leaves out
of ``linalg.__all__``), and the attributes and methods of its array class, which xpgrad's
:class:`~xpgrad.Tensor` must have.

"Compatible signature" means that any call the standard allows works and means the same:

* the standard's positional parameters are accepted positionally, in order (names of
  positional-only parameters do not matter, as no caller can spell them);
* a parameter the standard lets callers pass either way (``reshape(x, /, shape, ...)``) has the
  same name and kind in xpgrad;
* every keyword the standard gives is a keyword of xpgrad's function;
* every default the standard gives is xpgrad's default too;
* ``*args`` in the standard is ``*args`` in xpgrad;
* parameters xpgrad adds (``requires_grad=``) have defaults, so standard calls never need them.

Ops expose their forward's signature without ``xp`` (``Op.__signature__``), so these checks
read the same signature ``help()`` and IDEs show. Each test lists every problem it finds.
"""

from __future__ import annotations

import enum
import inspect
import math

import array_api_strict as strict
import pytest

import xpgrad as xg

P = inspect.Parameter
_POSITIONAL = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)

# array-api-strict's own configuration helpers and classes: not part of the standard.
STRICT_ONLY = {"ArrayAPIStrictFlags", "Device", "get_array_api_strict_flags", "set_array_api_strict_flags",
               "reset_array_api_strict_flags", "__version__"}

# 2025.12 functions array-api-strict defines (behind its version flag) without listing them in __all__.
EXTRA_2025 = {"linalg": ["eig", "eigvals"]}

# Where array-api-strict's Python signature differs from the standard's text, the standard wins:
# ``array.to_device(self, device, /, *, stream=None)`` has ``stream`` keyword-only in the standard,
# while array-api-strict declares it positional-or-keyword.
SPEC_SIGNATURES = {
    "Array.to_device": inspect.Signature([
        P("self", P.POSITIONAL_ONLY), P("device", P.POSITIONAL_ONLY),
        P("stream", P.KEYWORD_ONLY, default=None)]),
}

# Attributes of array-api-strict's array class that are Python or NumPy machinery, not the standard.
NOT_STANDARD_ATTRS = {"__buffer__", "__class__", "__delattr__", "__dir__", "__doc__", "__format__",
                      "__getattribute__", "__getstate__", "__init__", "__init_subclass__", "__module__",
                      "__new__", "__reduce__", "__reduce_ex__", "__setattr__", "__sizeof__", "__slots__",
                      "__str__", "__subclasshook__", "__weakref__", "__annotations__", "__repr__",
                      "__hash__", "__array__"}


@pytest.fixture(scope="module", autouse=True)
def strict_2025():
    """array-api-strict in its 2025.12 mode for this module, restored afterwards."""
    with strict.ArrayAPIStrictFlags(api_version="2025.12"):
        yield


def _default(d):
    # array-api-strict marks "no value given" with an enum sentinel (``Undef.UNDEF``) where the standard
    # says ``None``.
    if isinstance(d, enum.Enum) and type(d).__name__ == "Undef":
        return None
    return d


def _same_default(a, b) -> bool:
    a, b = _default(a), _default(b)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b or (a == b and {type(a), type(b)} <= {int, float})


def signature_problems(std: inspect.Signature, ours: inspect.Signature) -> list[str]:
    """Why a call valid for ``std`` could fail or mean something else with ``ours`` (empty: compatible)."""
    sp = [p for p in std.parameters.values()]
    op = [p for p in ours.parameters.values()]
    if sp and sp[0].name == "self":
        sp = sp[1:]
    if op and op[0].name == "self":
        op = op[1:]
    problems = []
    our_pos = [p for p in op if p.kind in _POSITIONAL]
    our_var = any(p.kind is P.VAR_POSITIONAL for p in op)
    our_kw = {p.name: p for p in op if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)}
    our_varkw = any(p.kind is P.VAR_KEYWORD for p in op)
    matched: set[str] = set()
    for i, p in enumerate(p for p in sp if p.kind in _POSITIONAL):
        if i >= len(our_pos):
            if not our_var:
                problems.append(f"positional parameter {i} ({p.name!r}) is not accepted")
            continue
        q = our_pos[i]
        matched.add(q.name)
        if p.kind is P.POSITIONAL_OR_KEYWORD and (q.kind is not P.POSITIONAL_OR_KEYWORD or q.name != p.name):
            problems.append(f"{p.name!r} is positional-or-keyword at position {i} in the standard; "
                            f"xpgrad has {q.name!r} ({q.kind.description})")
        if p.default is not P.empty and not _same_default(p.default, q.default):
            problems.append(f"{p.name!r} defaults to {_default(p.default)!r}, xpgrad's to "
                            f"{'nothing' if q.default is P.empty else repr(q.default)}")
    for p in sp:
        if p.kind is P.VAR_POSITIONAL and not our_var:
            problems.append(f"*{p.name} is not accepted")
        if p.kind is not P.KEYWORD_ONLY:
            continue
        q = our_kw.get(p.name)
        if q is None:
            if not our_varkw:
                problems.append(f"keyword {p.name!r} is missing")
            continue
        matched.add(q.name)
        if p.default is not P.empty and not _same_default(p.default, q.default):
            problems.append(f"keyword {p.name!r} defaults to {_default(p.default)!r}, xpgrad's to "
                            f"{'nothing' if q.default is P.empty else repr(q.default)}")
    std_names = {p.name for p in sp}
    for q in op:
        if q.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD) or q.name in matched or q.name in std_names:
            continue
        if q.default is P.empty:
            problems.append(f"xpgrad requires {q.name!r}, which the standard does not have")
    return problems


def _public(module, extension: str | None = None) -> list[str]:
    names = [n for n in module.__all__ if n not in STRICT_ONLY]
    return names + [n for n in EXTRA_2025.get(extension or "", ()) if n not in names]


NAMESPACES = {
    "main": (strict, xg, _public(strict)),
    "linalg": (strict.linalg, xg.linalg, _public(strict.linalg, "linalg")),
    "fft": (strict.fft, xg.fft, _public(strict.fft, "fft")),
}


def _is_function(obj) -> bool:
    return callable(obj) and not isinstance(obj, type)


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("space", list(NAMESPACES))
def test_every_standard_name_exists(space):
    std, ours, names = NAMESPACES[space]
    missing = [n for n in names if not hasattr(ours, n)]
    prefix = "" if space == "main" else f"{space}."
    assert not missing, (f"xpgrad{'.' + space if prefix else ''} lacks {len(missing)} name(s) of the "
                         "standard: " + ", ".join(prefix + n for n in missing))


@pytest.mark.parametrize("space", list(NAMESPACES))
def test_every_function_has_a_compatible_signature(space):
    std, ours, names = NAMESPACES[space]
    bad = []
    for n in names:
        f = getattr(std, n)
        if not _is_function(f) or not hasattr(ours, n) or n == "__array_namespace_info__":
            continue
        g = getattr(ours, n)
        if not callable(g):
            bad.append(f"{n}: not callable ({type(g).__name__})")
            continue
        try:
            sig = inspect.signature(g)
        except (TypeError, ValueError) as exc:
            bad.append(f"{n}: no inspectable signature ({exc})")
            continue
        for problem in signature_problems(inspect.signature(f), sig):
            bad.append(f"{n}{sig}: {problem}")
    assert not bad, f"{len(bad)} signature problem(s) in xpgrad {space}:\n  " + "\n  ".join(bad)


def test_extension_modules_and_version():
    assert xg.__array_api_version__ == "2024.12"
    assert inspect.ismodule(xg.linalg) and inspect.ismodule(xg.fft)
    for space in ("linalg", "fft"):  # what an extension has, it exports
        _, ours, names = NAMESPACES[space]
        unlisted = [n for n in names if hasattr(ours, n) and n not in ours.__all__]
        assert not unlisted, f"xpgrad.{space}.__all__ lacks {unlisted}"


def test_dtypes_and_constants():
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float32", "float64", "complex64", "complex128"):
        dt = getattr(xg, name)
        assert xg.asarray([], dtype=dt).dtype == dt, name
        assert xg.isdtype(dt, dt)
    dts = [xg.bool, xg.int8, xg.int16, xg.int32, xg.int64, xg.uint8, xg.uint16, xg.uint32, xg.uint64,
           xg.float32, xg.float64, xg.complex64, xg.complex128]
    assert all(a != b for i, a in enumerate(dts) for b in dts[i + 1:])
    assert xg.e == math.e and xg.pi == math.pi and xg.inf == math.inf and math.isnan(xg.nan)
    assert all(isinstance(v, float) for v in (xg.e, xg.pi, xg.inf, xg.nan))
    assert xg.newaxis is None


def test_namespace_info_methods():
    std = strict.__array_namespace_info__()
    ours = xg.__array_namespace_info__()
    bad = []
    for n in ("capabilities", "default_device", "default_dtypes", "devices", "dtypes"):
        if not hasattr(ours, n):
            bad.append(f"{n}: missing")
            continue
        bad += [f"{n}: {p}" for p in signature_problems(inspect.signature(getattr(std, n)),
                                                          inspect.signature(getattr(ours, n)))]
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------- the array object


def _array_attributes() -> list[str]:
    from array_api_strict._array_object import Array

    return [n for n in dir(Array) if n not in NOT_STANDARD_ATTRS
            and (not n.startswith("_") or (n.startswith("__") and n.endswith("__")))]


def test_tensor_has_every_array_attribute_and_method():
    from array_api_strict._array_object import Array

    missing = [n for n in _array_attributes() if not hasattr(xg.Tensor, n)]
    assert not missing, "xpgrad.Tensor lacks: " + ", ".join(missing)
    bad = []
    for n in _array_attributes():
        f = getattr(Array, n)
        if isinstance(f, property) or not _is_function(f):
            assert isinstance(getattr(xg.Tensor, n), property), f"Tensor.{n} should be a property"
            continue
        std = SPEC_SIGNATURES.get(f"Array.{n}") or inspect.signature(f)
        ours = inspect.signature(getattr(xg.Tensor, n))
        bad += [f"Tensor.{n}{ours}: {p}" for p in signature_problems(std, ours)]
    assert not bad, f"{len(bad)} problem(s):\n  " + "\n  ".join(bad)


# ---------------------------------------------------------------- the checker itself


def _sig(fn):
    return inspect.signature(fn)


def test_signature_checker_accepts_compatible_and_rejects_incompatible_signatures():
    def std(x, /, shape, *, copy=None): ...

    def same(y, /, shape, *, copy=None, requires_grad=False): ...

    def wider(x, shape=None, *, copy=None): ...     # positional-only may become positional-or-keyword

    def renamed(x, /, new_shape, *, copy=None): ...

    def kw_only(x, /, *, shape, copy=None): ...

    def other_default(x, /, shape, *, copy=False): ...

    def no_copy(x, /, shape): ...

    def extra_required(x, /, shape, *, copy=None, flag): ...

    assert signature_problems(_sig(std), _sig(same)) == []
    assert signature_problems(_sig(std), _sig(wider)) == []
    for bad in (renamed, kw_only, other_default, no_copy, extra_required):
        assert signature_problems(_sig(std), _sig(bad)), bad.__name__

    def var(*arrays, indexing="xy"): ...

    def not_var(arrays, /, *, indexing="xy"): ...

    assert signature_problems(_sig(var), _sig(var)) == []
    assert signature_problems(_sig(var), _sig(not_var))
