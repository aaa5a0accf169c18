"""The README's Python examples run as written."""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    """They run as written, and print no warnings (a user copying them sees clean output)."""
    import warnings

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for code in blocks:
            exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "diagram.png").stat().st_size > 0
    shown = [f"{w.category.__name__}: {w.message}" for w in caught
             if not issubclass(w.category, DeprecationWarning | PendingDeprecationWarning)]
    assert not shown, shown
