"""Static figures: `superposition plot RUN --format svg|png` draws each figure with kaleido in the system's headless
chromium, offline; the HTML pages' modebar saves SVG.

The drawing tests need chromium (Debian package `chromium`; BROWSER_PATH names another) and the kaleido package.
Without them they are skipped locally, and fail when the `CI` variable is set, as the report's browser test does.
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import threading
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from conftest import skip_or_fail
from typer.testing import CliRunner

from superposition import figure_files, make_config, train_run
from superposition.cli import app, main
from superposition.families import family_of
from superposition.figure_files import PNG_SIGNATURE, SVG_MARK, figure_format, figure_paths
from superposition.pages import figure_div
from superposition.runs import load_run

SVG = "{http://www.w3.org/2000/svg}"
runner = CliRunner()


def _require_exporter() -> None:
    missing = []
    try:
        figure_files.find_browser()
    except ValueError as e:
        missing.append(str(e))
    try:
        import kaleido  # noqa: F401
    except ImportError:
        missing.append("the kaleido package (pip install -e .)")
    if not missing:
        return
    skip_or_fail("static figures need " + "; ".join(missing))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("static") / "toy"
    train_run(make_config(data=dict(n_features=5, feature_probability=[1.0, 0.1]), model=dict(n_hidden=2),
                          train=dict(steps=50, batch_size=64, log_every=10)), out, progress=False)
    return out


@pytest.fixture(scope="module")
def figures(run_dir):
    run = load_run(run_dir, device="cpu")
    return family_of(run).figures(run)


@pytest.fixture(scope="module")
def svg_out(run_dir, tmp_path_factory) -> tuple[Path, str]:
    """`plot RUN --format svg` once: the --out path and what the command printed."""
    _require_exporter()
    out = tmp_path_factory.mktemp("svg") / "figs" / "toy.svg"
    return out, plot(str(run_dir), "--format", "svg", "--out", str(out)).output


def plot(*args: str):
    result = runner.invoke(app, ["plot", *args])
    assert result.exit_code == 0, result.output
    return result


def errors(args: list[str], capsys) -> str:
    """Run the console script; it must exit 2 with one `error:` line, which is returned."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exited.value.code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk of a PNG, each CRC checked: a PNG a decoder would accept chunk by chunk."""
    assert data.startswith(PNG_SIGNATURE)
    chunks, at = [], len(PNG_SIGNATURE)
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in chunk {kind!r}"
        chunks.append((kind, body))
        at += 12 + length
    return chunks


# ---------------------------------------------------------------- drawing (chromium + kaleido)

def test_svg_one_valid_file_per_figure_with_the_plotted_data(svg_out, figures):
    out, printed = svg_out
    paths = figure_paths(out, "svg", len(figures))
    assert len(figures) > 1 and [p.name for p in paths][:2] == ["toy-1.svg", "toy-2.svg"]
    assert sorted(out.parent.iterdir()) == sorted(paths) and str(paths[-1]) in printed
    for fig, path in zip(figures, paths):
        text = path.read_text()
        root = ET.fromstring(text)
        assert root.tag == f"{SVG}svg" and text.lstrip().startswith(SVG_MARK)
        assert float(root.get("width")) == (fig.layout.width or 700)
        drawn = [p.get("d") for p in root.iter(f"{SVG}path") if p.get("d")]
        assert len(drawn) >= 5, f"{path.name} has almost nothing drawn"
        drawn_text = "".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
        # plotly's HTML-ish title markup becomes tspans (with zero-width spaces around <sup>/<sub>) and line breaks
        title = re.sub(r"<[^>]+>|\s", "", fig.layout.title.text or "")
        assert title[:12] in re.sub(r"[\s\u200b]", "", drawn_text), f"{path.name} lacks its title"


def test_png_has_the_signature_twice_the_layout_size_and_our_mark(run_dir, figures, tmp_path):
    _require_exporter()
    out = tmp_path / "toy.png"
    plot(str(run_dir), "--out", str(out))  # the suffix tells the format
    path = figure_paths(out, "png", len(figures))[0]
    chunks = png_chunks(path.read_bytes())
    assert chunks[0][0] == b"IHDR" and chunks[1] == (b"tEXt", b"Software\x00superposition")
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (2 * (figures[0].layout.width or 700), 2 * (figures[0].layout.height or 500))
    assert sum(kind == b"IDAT" for kind, _ in chunks) >= 1 and chunks[-1][0] == b"IEND"


def test_images_replaced_only_when_ours_and_asked(run_dir, svg_out, figures, tmp_path, capsys):
    out = tmp_path / "toy.svg"
    paths = figure_paths(out, "svg", len(figures))
    for ours, path in zip(figure_paths(svg_out[0], "svg", len(figures)), paths):
        shutil.copy(ours, path)
    assert "already exists; pass --overwrite" in errors(["plot", str(run_dir), "--out", str(out)], capsys)
    plot(str(run_dir), "--out", str(out), "--overwrite")  # ours: replaced
    mine = b"<svg xmlns='http://www.w3.org/2000/svg'><!-- my drawing --></svg>"
    paths[1].write_bytes(mine)
    paths[0].unlink()
    line = errors(["plot", str(run_dir), "--out", str(out), "--overwrite"], capsys)
    assert "not written by superposition" in line and paths[1].name in line
    assert paths[1].read_bytes() == mine and not paths[0].exists(), "checks must come before any file is written"


def _host(request: bytes) -> str:
    """The host a proxied request asks for: `CONNECT host:443 ...` or `GET http://host/... ...`."""
    target = request.split(b" ")[1].decode() if request.count(b" ") else ""
    return target.split("://")[-1].split("/")[0].split(":")[0]


def test_the_page_asks_the_network_for_nothing(figures):
    """Drawing through a proxy that records every connection: no request is the page's (no plotly.js or MathJax
    from a CDN, no browser download); what Chromium asks of its own Google services is refused by the default
    proxy, which `test_the_default_proxy_refuses_every_connection` checks."""
    _require_exporter()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    requests: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    requests.append(conn.recv(300))
                except OSError:
                    requests.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        images = figure_files.render_images(figures[:2], "svg", proxy=f"http://127.0.0.1:{server.getsockname()[1]}")
    finally:
        stop.set()
        thread.join()
        server.close()
    assert len(images) == 2 and all(ET.fromstring(i).tag == f"{SVG}svg" for i in images)
    hosts = {_host(r) for r in requests if r}
    chromium_own = {h for h in hosts if h == "google.com" or h.endswith((".google.com", ".gstatic.com",
                                                                         ".googleapis.com"))}
    assert hosts == chromium_own, f"requests beyond Chromium's own services: {sorted(hosts - chromium_own)}"


def test_the_default_proxy_refuses_every_connection():
    with figure_files.refusing_proxy() as proxy:
        host, port = proxy.removeprefix("http://").split(":")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=5)


# ---------------------------------------------------------------- no browser needed

def test_bad_format_and_suffix_are_one_line_errors_before_loading(tmp_path, capsys):
    missing = str(tmp_path / "no-such-run")  # never loaded: the format is checked first
    assert "not one of html, svg, png" in errors(["plot", missing, "--format", "jpg", "--out", "x.jpg"], capsys)
    assert "end in .svg" in errors(["plot", missing, "--format", "svg", "--out", "x.png"], capsys)
    assert ".html, .svg or .png" in errors(["plot", missing, "--out", str(tmp_path / "x.pdf")], capsys)
    assert not list(tmp_path.iterdir())


def test_no_browser_is_one_clear_line(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(figure_files, "_BROWSER_PLACES", ())
    line = errors(["plot", str(run_dir), "--out", str(tmp_path / "x.svg")], capsys)
    assert "apt-get install chromium" in line and "BROWSER_PATH" in line
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "nothing-here"))
    assert "BROWSER_PATH" in errors(["plot", str(run_dir), "--out", str(tmp_path / "x.png")], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    plot(str(run_dir), "--out", str(tmp_path / "x.html"))  # a page needs no browser


def test_format_inference_and_names():
    assert figure_format(Path("a.HTM"), None) == "html"
    assert figure_format(Path("a.svg"), " SVG ") == "svg"
    assert figure_paths(Path("d/a.svg"), "svg", 1) == [Path("d/a.svg")]
    assert figure_paths(Path("d/a.html"), "html", 3) == [Path("d/a.html")]
    assert figure_paths(Path("d/a.b.png"), "png", 2) == [Path("d/a.b-1.png"), Path("d/a.b-2.png")]


def test_pages_and_the_report_download_svg(run_dir, figures, tmp_path):
    """The modebar's camera button saves an SVG (plotly.js's toImageButtonOptions), in `plot` pages and in the
    report, whose figures come from the same `figure_div`."""
    out = tmp_path / "toy.html"
    plot(str(run_dir), "--out", str(out))
    text = out.read_text()
    assert text.count('"toImageButtonOptions": {"format": "svg"') == len(figures)
    assert '"filename": "figure-0"' in text
    div = figure_div(figures[0], "intro-figure-0")
    assert '"toImageButtonOptions": {"format": "svg", "filename": "intro-figure-0"}' in div
