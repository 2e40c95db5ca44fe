"""The README's Python examples run as written."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, capsys):
    if "dask" in BLOCKS[index]:
        pytest.importorskip("dask.array")
    if 'backend="jit"' in BLOCKS[index]:
        pytest.importorskip("numba")
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {})  # noqa: S102 - our own README
    assert capsys.readouterr().out.strip()
