"""Every Python example in the documentation pages runs (docs/*.md, docs/guide/*.md).

The code blocks of one page run in order in one namespace, as a reader would paste them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in list(DOCS.glob("*.md")) + list(DOCS.glob("guide/*.md"))
               if "```python" in p.read_text())
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_the_examples_of_a_page_run(page, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {}
    blocks = BLOCK.findall(page.read_text())
    assert blocks, f"{page} has no python block"
    for i, code in enumerate(blocks):
        exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
    # every block ran to its end: the names its last block assigns exist
    last = compile(blocks[-1], "last", "exec").co_names
    assert any(name in namespace for name in last), page
