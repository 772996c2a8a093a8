"""docs/nn.md's Python examples run as written, in order, in one namespace (as a reader would paste them)."""

import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "nn.md"


def test_nn_guide_python_blocks_run(tmp_path, monkeypatch):
    pytest.importorskip("safetensors")   # one block shows interop with the safetensors package
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) > 10, "docs/nn.md lost its examples"
    monkeypatch.setenv("TMPDIR", str(tmp_path))   # the examples write checkpoints under tempfile's folder
    monkeypatch.setattr("tempfile.tempdir", None)
    namespace: dict = {"__name__": "docs_nn"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/nn.md block {i}", "exec"), namespace)
