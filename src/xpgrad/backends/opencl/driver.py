"""Finding the OpenCL devices that work here.

Two facts shape this module:

* The ICD loader bundled with pyopencl's wheels reads the runtimes to load
  from ``OCL_ICD_VENDORS`` (default ``/etc/OpenCL/vendors``) once, at the first
  ``clGetPlatformIDs``. Runtimes installed from PyPI into the environment
  (Intel's CPU runtime ``intel-opencl-rt``, PoCL) are not listed there, and
  Intel's wheel ships an ``.icd`` file naming a path that does not exist. So,
  before the first call and unless the user set ``OCL_ICD_VENDORS``, we write
  a vendors directory (in a per-user cache, atomically) listing every runtime
  found — the system's own ``.icd`` files included, since the variable
  replaces the default directory — and point the loader at it.
* A runtime that enumerates a device may still be unable to compile for it:
  PoCL 3.0 as shipped on PyPI (LLVM 14) fails every build on CPUs newer than
  LLVM 14 knows ("unknown target CPU 'generic'"). Every device is therefore
  probed by building and running a trivial kernel; the ones that fail are
  reported with the reason, never offered as ``opencl:N``.

Usable devices are numbered GPUs first, then accelerators, then CPUs, each
group in platform order, so ``opencl:0`` is the fastest device in the common
case and the numbering is stable from run to run.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

__all__ = ["Found", "discover", "prepare_icd", "runtimes"]

# Intel's CPU runtime needs these from the same environment; preloading them globally makes
# the runtime loadable whatever its RUNPATH says (LD_LIBRARY_PATH cannot change in-process).
_INTEL_DEPS = ("libtbb.so.12", "libtbbmalloc.so.2", "libintlc.so.5", "libimf.so", "libsvml.so",
               "libirng.so")
_PROBE = """
__kernel void xpgrad_probe(__global int* x) {
    int i = get_global_id(0);
    x[i] = 2 * i + 1;
}
"""


@dataclass
class Found:
    """A usable device: its pyopencl objects and how it ranked in discovery."""

    device: Any    # pyopencl.Device
    context: Any   # pyopencl.Context holding only this device
    queue: Any     # an in-order pyopencl.CommandQueue on it
    label: str     # "Intel(R) OpenCL: AMD EPYC", for messages


_STATE: dict[str, Any] = {}


def _lib_dirs() -> list[str]:
    out = []
    for p in (sys.prefix, sys.base_prefix):
        d = os.path.join(p, "lib")
        if os.path.isdir(d) and d not in out:
            out.append(d)
    return out


def _package_dir(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def runtimes() -> list[tuple[str, str]]:
    """Every OpenCL runtime found here, as ``(icd file name, library path)``.

    The system's vendors come first (their libraries as the system lists them),
    then PoCL from the pyopencl / pocl-binary-distribution wheels, then Intel's
    CPU runtime from the ``intel-opencl-rt`` wheel.
    """
    found: list[tuple[str, str]] = []
    for icd in sorted(glob.glob("/etc/OpenCL/vendors/*.icd")):
        try:
            with open(icd) as f:
                lib = f.read().strip()
        except OSError:
            continue
        if lib:
            found.append((os.path.basename(icd), lib))
    for pkg in ("pyopencl", "pocl_binary_distribution"):
        d = _package_dir(pkg)
        if d is None:
            continue
        for lib in sorted(glob.glob(os.path.join(d, ".libs", "libpocl*.so*"))):
            found.append((f"{pkg}-pocl.icd", os.path.realpath(lib)))
    for d in _lib_dirs():
        lib = os.path.join(d, "libintelocl.so")
        if os.path.exists(lib):
            found.append(("intel-cpu.icd", os.path.realpath(lib)))
            break
    seen: set[str] = set()
    unique = []
    for name, lib in found:
        if lib not in seen:
            seen.add(lib)
            unique.append((name, lib))
    return unique


def _cache_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "xpgrad")


def _write_vendors(entries: list[tuple[str, str]]) -> str:
    """A directory of ``.icd`` files for ``entries``, named by its content, written atomically."""
    text = "\n".join(f"{n}\t{lib}" for n, lib in entries)
    name = "opencl-vendors-" + hashlib.sha1(text.encode()).hexdigest()[:16]
    roots = [_cache_root(), os.path.join(tempfile.gettempdir(), f"xpgrad-{os.getuid()}")]
    last: Exception | None = None
    for root in roots:
        final = os.path.join(root, name)
        if os.path.isdir(final):
            return final
        try:
            os.makedirs(root, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=".vendors-", dir=root)
            for i, (n, lib) in enumerate(entries):
                with open(os.path.join(tmp, f"{i:02d}-{n}"), "w") as f:
                    f.write(lib + "\n")
            try:
                os.rename(tmp, final)   # atomic: another process either sees all of it or none
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                if not os.path.isdir(final):
                    raise
            return final
        except OSError as exc:  # a read-only home: try the temporary directory
            last = exc
    raise OSError(f"cannot write an OpenCL vendors directory: {last}")


def _preload_intel(lib: str) -> None:
    d = os.path.dirname(lib)
    for dep in _INTEL_DEPS:
        p = os.path.join(d, dep)
        if os.path.exists(p):
            try:
                ctypes.CDLL(p, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                pass


def prepare_icd() -> str | None:
    """Point the ICD loader at every runtime found here; returns the vendors directory used.

    Does nothing when the user set ``OCL_ICD_VENDORS`` (their choice wins), and
    must run before pyopencl first enumerates platforms to have any effect.
    """
    if "icd" in _STATE:
        return _STATE["icd"]
    user = os.environ.get("OCL_ICD_VENDORS")
    entries = runtimes()
    for _, lib in entries:
        if os.path.basename(lib).startswith("libintelocl"):
            _preload_intel(lib)
    if user:
        _STATE["icd"] = user
        return user
    try:
        d = _write_vendors(entries) if entries else None
    except OSError:
        d = None
    if d is not None:
        os.environ["OCL_ICD_VENDORS"] = d
        _STATE["wrote"] = entries
    _STATE["icd"] = d
    return d


def _rank(dev: Any, cl: Any) -> int:
    t = dev.type
    if t & cl.device_type.GPU:
        return 0
    if t & cl.device_type.ACCELERATOR:
        return 1
    return 2


def _platform_label(platform: Any) -> str:
    """``PoCL 3.0 (LLVM 14)`` for PoCL, the platform name otherwise."""
    v = platform.version or ""
    m = re.search(r"PoCL (\d+\.\d+)", v)
    if m:
        llvm = re.search(r"LLVM (\d+)", v)
        return f"PoCL {m.group(1)}" + (f" (LLVM {llvm.group(1)})" if llvm else "")
    return platform.name.strip()


def _why_build_failed(exc: Exception, platform: Any) -> str:
    text = str(exc)
    lines = [ln.strip() for ln in text.splitlines() if "error" in ln.lower() and ln.strip()]
    detail = next((ln for ln in lines if not ln.startswith("clBuildProgram")), lines[0] if lines else text)
    label = _platform_label(platform)
    if "unknown target CPU" in text:
        target = re.search(r"unknown target CPU '([^']*)'", text)
        return (f"{label} cannot target this CPU: unknown target CPU "
                f"'{target.group(1) if target else '?'}' (its LLVM predates this processor)")
    return f"{label} cannot build a kernel: {detail[:200]}"


def _probe(dev: Any, cl: Any) -> tuple[Any, Any] | str:
    """``(context, queue)`` when ``dev`` builds and runs a kernel correctly, else why not."""
    import numpy as np

    try:
        ctx = cl.Context([dev])
        queue = cl.CommandQueue(ctx)
    except Exception as exc:
        return f"{_platform_label(dev.platform)} cannot create a context: {exc}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # compiler chatter (pyopencl.CompilerWarning)
            prg = cl.Program(ctx, _PROBE).build()
    except Exception as exc:
        return _why_build_failed(exc, dev.platform)
    try:
        host = np.zeros(64, dtype=np.int32)
        buf = cl.Buffer(ctx, cl.mem_flags.READ_WRITE, host.nbytes)
        prg.xpgrad_probe(queue, (64,), None, buf)
        cl.enqueue_copy(queue, host, buf, is_blocking=True)
    except Exception as exc:
        return f"{_platform_label(dev.platform)} cannot run a kernel: {exc}"
    if not np.array_equal(host, 2 * np.arange(64, dtype=np.int32) + 1):
        return f"{_platform_label(dev.platform)} computed a wrong result in the probe kernel"
    return ctx, queue


def discover() -> tuple[list[Found], list[tuple[str, str]]]:
    """Usable devices (GPUs first, then accelerators, then CPUs) and ``(device, why)`` for the others.

    Imports pyopencl (``ImportError`` when it is missing). Runs once per
    process; later calls return the same lists.
    """
    if "found" in _STATE:
        return _STATE["found"], _STATE["unusable"]
    prepare_icd()
    import pyopencl as cl

    try:
        platforms = cl.get_platforms()
    except Exception:  # no runtime at all: the loader reports PLATFORM_NOT_FOUND_KHR
        platforms = []
    cands = []
    seen: set[int] = set()
    for pi, p in enumerate(platforms):
        if p.int_ptr in seen:  # a runtime listed twice (pyopencl's loader also looks in its own .libs)
            continue
        seen.add(p.int_ptr)
        try:
            devs = p.get_devices()
        except Exception:
            continue
        for di, d in enumerate(devs):
            cands.append((_rank(d, cl), pi, di, p, d))
    cands.sort(key=lambda c: c[:3])
    usable: list[Found] = []
    unusable: list[tuple[str, str]] = []
    if not cands:
        unusable.append(("opencl:*", "no OpenCL runtime found (looked in /etc/OpenCL/vendors, pyopencl's "
                                     "PoCL and the intel-opencl-rt wheel); install a GPU driver, or "
                                     "pip install xpgrad[opencl] for Intel's CPU runtime"))
    for _, _, _, p, d in cands:
        label = f"{_platform_label(p)}: {d.name.strip()}"
        got = _probe(d, cl)
        if isinstance(got, str):
            unusable.append((label, got))
        else:
            usable.append(Found(d, got[0], got[1], label))
    _STATE["found"], _STATE["unusable"] = usable, unusable
    return usable, unusable
