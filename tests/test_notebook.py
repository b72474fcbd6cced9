"""The tutorial notebook (docs/tutorial.ipynb): committed without outputs, and it runs top to bottom, offline.

The run needs nbclient, nbformat and ipykernel (the `dev` extra): it is skipped where they are missing, and fails
instead when the `CI` variable is set (CI installs the extra, so a missing one is a broken install). Its kernel is
this interpreter (a kernel spec written for the test), so it imports the `superposition` under test, whatever other
kernels the machine has.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import pytest
from conftest import skip_or_fail

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"
CELL_TIMEOUT = 600  # seconds per cell: the slowest cell takes well under a minute on an idle 2-core CPU
STEPS = ["1. A first look", "2. The intro figure", "3. Feature geometry", "4. The phase diagram",
         "5. A sparse autoencoder", "6. Mixing"]


def _cells() -> list[dict]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def test_committed_notebook_has_no_outputs():
    code = [c for c in _cells() if c["cell_type"] == "code"]
    assert code, "the tutorial has no code cells"
    dirty = [k for k, c in enumerate(code) if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"code cells {dirty} carry outputs or execution counts: clear them before committing"


def test_notebook_follows_the_tutorial_path():
    headings = [line for c in _cells() if c["cell_type"] == "markdown"
                for line in "".join(c["source"]).splitlines() if line.startswith("## ")]
    numbered = [h for h in headings if h[3:4].isdigit()]
    assert len(numbered) == len(STEPS) and all(h.startswith(f"## {s}") for h, s in zip(numbered, STEPS)), numbered
    source = "".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "code")
    # plotly.js must travel with the figures: a "*_connected" (CDN) renderer leaves them blank offline
    assert 'pio.renderers.default = "plotly_mimetype+notebook"' in source
    assert "_connected" not in source


def _need(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        skip_or_fail(f"{module} is not installed (it is in the dev extra: pip install -e '.[dev]')")


def _kernel_spec(root: Path) -> str:
    """A kernel spec that starts this interpreter's ipykernel, under a JUPYTER_PATH of its own."""
    name = "superposition-test"
    spec = root / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "superposition tests", "language": "python",
    }))
    return name


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nbformat, nbclient, _ = (_need(m) for m in ("nbformat", "nbclient", "ipykernel"))
    # The kernel spec, the connection file and IPython's profile live under tmp_path: nothing is written to $HOME.
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    kernel = _kernel_spec(tmp_path / "jupyter")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error

    outputs = [out for c in nb.cells if c.cell_type == "code" for out in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) >= len(STEPS), f"only {len(figures)} figures were shown"
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    # plotly.js is embedded once (the renderer's first output), never loaded from a CDN. (Plotly's notebook renderer
    # also adds a MathJax script tag, which only LaTeX text would need; no figure here uses LaTeX.)
    assert "* plotly.js v" in html
    assert not re.search(r"<script[^>]*src=[\"'][^\"']*plotly", html)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "this notebook ran in" in text
