"""Rules derived from the other rule, for ops defined with only one of VJP or JVP.

* VJP from JVP: the JVP is linear in the tangents, so the VJP is its
  transpose: run the JVP on zero tangents that require grad and pull the
  cotangent back through it (reverse mode over the linear map).
* JVP from VJP: the VJP ``u -> Jᵀu`` is linear in ``u``; the gradient of
  ``⟨Jᵀu, t⟩`` with respect to ``u`` is ``J t`` (the double-VJP trick).

Both are exact. They cost an extra pass through the engine, so built-in ops
write both rules by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .registry import ZERO
from .tape import backward, rule_for, set_grad_enabled, unbroadcast
from .tensor import Tensor, namespace


def _as_tensors(xp: Any, args: tuple, b: Any) -> tuple[list, bool]:
    tensor_mode = xp is namespace()
    if tensor_mode:
        return list(args), True
    return [Tensor._make(a, b) if type(a) in b.array_types else a for a in args], False


def _backend(args: tuple) -> Any:
    from .device import backend_of, default_backend, is_array

    for a in args:
        if isinstance(a, Tensor):
            return a._b
        if is_array(a):
            return backend_of(a)
    return default_backend()


def vjp_from_jvp(op: Any) -> Callable:
    def vjp(xp: Any, g: Any, out: Any, *args: Any, **params: Any) -> tuple:
        b = _backend(args)
        targs, tensor_mode = _as_tensors(xp, args, b)
        ns = namespace()
        leaves = []
        tans = []
        for a in targs:
            if isinstance(a, Tensor) and b.is_floating(a.dtype):
                z = Tensor._make(b.xp.zeros_like(a.data), b)
                z.requires_grad = True
                leaves.append(z)
                tans.append(z)
            else:
                leaves.append(None)
                tans.append(None)
        out_t = out if isinstance(out, Tensor) else Tensor._make(out, b)
        gt = g if isinstance(g, Tensor) else Tensor._make(g, b)
        with set_grad_enabled(True):
            if op.jvps is not None:
                tan_out = None
                for i, t in enumerate(tans):
                    rule = rule_for(op.jvps, i)
                    if t is not None and rule is not None:
                        c = rule(ns, t, out_t, *targs, **params)
                        tan_out = c if tan_out is None else tan_out + c
            else:
                ts = [ZERO if t is None else t for t in tans]
                tan_out = op.jvp(ns, tuple(ts), out_t, *targs, **params) if op.variadic else \
                    op.jvp(ns, *ts, out_t, *targs, **params)
            live = [z for z in leaves if z is not None]
            if tan_out is None or not isinstance(tan_out, Tensor) or tan_out._edge is None:
                cts = [None] * len(live)
            else:
                if tan_out.shape != out_t.shape:
                    tan_out = ns.broadcast_to(tan_out, out_t.shape)
                cts = backward([tan_out], [gt], inputs=live, create_graph=tensor_mode)
        res = []
        it = iter(cts)
        for z in leaves:
            if z is None:
                res.append(None)
                continue
            c = next(it)
            res.append(None if c is None else (c if tensor_mode else c.data))
        return tuple(res)
    return vjp


def jvp_from_vjp(op: Any) -> Callable:
    def jvp(xp: Any, *tangents_out_args: Any, **params: Any) -> Any:
        if op.variadic:
            tangents, out, *args = tangents_out_args
        else:
            n = len(tangents_out_args) // 2
            tangents = tangents_out_args[:n]
            out, *args = tangents_out_args[n:]
        ns = namespace()
        b = out._b
        u = Tensor._make(b.xp.zeros_like(out.data), b)
        u.requires_grad = True
        with set_grad_enabled(True):
            if op.vjps is not None:
                cts = [None if (t is ZERO or t is None or rule_for(op.vjps, i) is None)
                       else rule_for(op.vjps, i)(ns, u, out, *args, **params)
                       for i, t in enumerate(tangents)]
            else:
                cts = list(op.vjp(ns, u, out, *args, **params))
            s = None
            for c, t in zip(cts, tangents):
                if c is None or t is ZERO or t is None:
                    continue
                if c.shape != t.shape:
                    c = unbroadcast(ns, c, t.shape)
                term = ns.sum(c * t)
                s = term if s is None else s + term
            if s is None or s._edge is None:
                return ZERO
            (jt,) = backward([s], None, inputs=[u], create_graph=True)
        return ZERO if jt is None else jt
    return jvp
