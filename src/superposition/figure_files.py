"""Figures as files: one offline HTML page holding all of them, or one SVG or PNG image per figure.

Static images come from plotly's own exporter, kaleido (v1): it draws each figure with plotly.js in a headless
Chromium. We hand it the system's browser (`BROWSER_PATH`, else chromium or chrome on `PATH` or in its usual
place), so kaleido never looks for a browser of its own and never downloads one; its page loads only local files
(the plotly.js that plotly ships, MathJax off), and the browser's proxy is a local port that refuses every
connection, so neither the page nor Chromium's own background services reach the network.

Naming: `out` names the file. A single figure goes to `out` itself; several go to `out`'s stem with `-1`, `-2`, ...
and `out`'s suffix (`figs.svg` -> `figs-1.svg`, `figs-2.svg`). An HTML page always holds every figure in `out`.

Every image carries a mark saying that superposition wrote it (an XML comment before the SVG's root element, a PNG
`tEXt` chunk `Software: superposition`), so `overwrite` replaces only images the project wrote, as it does pages.

>>> figure_format(Path("figs.svg"), None), figure_format(Path("figs.html"), None), figure_format(Path("x.png"), "PNG")
('svg', 'html', 'png')
>>> [p.name for p in figure_paths(Path("out/figs.svg"), "svg", 2)]
['figs-1.svg', 'figs-2.svg']
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import socket
import struct
import zlib
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, SuperpositionError
from .files import atomic_write_bytes, check_output_file, check_parent, written_by_us

FORMATS = ("html", "svg", "png")
_SUFFIXES = {".html": "html", ".htm": "html", ".svg": "svg", ".png": "png"}
SVG_MARK = "<!-- generator: superposition -->"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT = b"Software\x00superposition"
PNG_SCALE = 2  # PNGs at twice the layout's pixel size: sharp on high-density screens and in print
RENDER_TIMEOUT_S = 120.0  # per figure; a large heatmap takes a few seconds on 2 shared cores
# The browsers kaleido can drive, by executable name, and their usual places when PATH lacks them.
_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_BROWSER_PLACES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome",
                   "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
                   "/Applications/Chromium.app/Contents/MacOS/Chromium")
NO_BROWSER = ("SVG and PNG figures need a Chromium or Chrome browser and none was found: install one "
              "(Debian/Ubuntu: apt-get install chromium) or set BROWSER_PATH to its executable; "
              "--format html needs no browser")


def figure_format(out: Path, fmt: str | None) -> str:
    """The format to write: `fmt` when given (html, svg or png), else the one `out`'s suffix names. `out` must end
    in that format's suffix (.html or .htm, .svg, .png)."""
    named = _SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        if named is None:
            raise ConfigError(f"--out {out}: name an .html, .svg or .png file, or give --format html|svg|png")
        return named
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if named != fmt:
        raise ConfigError(f"--out {out} must end in .{fmt} for --format {fmt}")
    return fmt


def figure_paths(out: Path, fmt: str, count: int) -> list[Path]:
    """The files `count` figures go to: `out` for a page or a single image, else `out`'s stem + -1, -2, ..."""
    if fmt == "html" or count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, count + 1)]


def image_written_by_us(path: str | Path) -> bool:
    """Whether the file at `path` is an image (or page) this project wrote: it carries our mark near its top."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    if head.startswith(PNG_SIGNATURE):
        return b"tEXt" + _PNG_TEXT in head
    return SVG_MARK.encode() in head or written_by_us(path)


def check_figure_file(path: Path, *, overwrite: bool) -> Path:
    """`check_output_file` for pages and images: an existing file is replaced only with `overwrite` and only when
    this project wrote it."""
    if overwrite and path.is_file() and not path.is_symlink() and image_written_by_us(path):
        check_parent(path)
        return path
    return check_output_file(path, overwrite=overwrite)


def find_browser() -> str:
    """The browser kaleido drives: `BROWSER_PATH` when set, else chromium or chrome on PATH or in its usual place."""
    named = os.environ.get("BROWSER_PATH")
    if named:
        if os.path.isfile(named) and os.access(named, os.X_OK):
            return named
        raise ConfigError(f"BROWSER_PATH={named} is not an executable file; point it at a chromium or chrome binary")
    for name in _BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    for place in _BROWSER_PLACES:
        if os.path.isfile(place) and os.access(place, os.X_OK):
            return place
    raise ConfigError(NO_BROWSER)


def prepare_output(out: Path, fmt: str | None, *, overwrite: bool) -> str:
    """Everything about `out` that can be checked before any figure is built: the format, the page itself, or for
    images the directory and the browser. Returns the format."""
    fmt = figure_format(out, fmt)
    if fmt == "html":
        check_output_file(out, overwrite=overwrite)
    else:
        check_parent(out)
        find_browser()
        _kaleido()
    return fmt


def _kaleido() -> Any:
    try:
        import kaleido
    except ImportError:
        raise ConfigError("SVG and PNG figures need the kaleido package (pip install 'kaleido>=1,<2'); "
                          "--format html needs none") from None
    return kaleido


def _run(coro: Coroutine[Any, Any, list[bytes]]) -> list[bytes]:
    """Run `coro` to the end, also from code already inside an event loop (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@contextlib.contextmanager
def refusing_proxy() -> Iterator[str]:
    """A proxy address on which every connection is refused at once: a loopback port bound and never listened on,
    held for the block (so no other program can take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def render_images(figures: Sequence[Any], fmt: str, *, proxy: str | None = None) -> list[bytes]:
    """Each plotly figure as SVG or PNG bytes, drawn by kaleido in the system's headless browser, offline.

    The browser's http(s) requests go to `proxy`, by default `refusing_proxy()`: the page needs none (it loads
    local files only), and Chromium's own background services (its network-time check, Google sign-in) never
    reach the network."""
    if fmt not in ("svg", "png"):
        raise ConfigError(f"cannot render figures as {fmt!r}; images are svg or png")
    browser = find_browser()
    kaleido = _kaleido()

    async def draw(proxy_server: str) -> list[bytes]:
        async with kaleido.Kaleido(path=browser, mathjax=False, timeout=RENDER_TIMEOUT_S,
                                   proxy_server=proxy_server) as k:
            # the figure's layout size, or kaleido's (and plotly's) default 700 x 500
            opts = {"format": fmt, "scale": PNG_SCALE if fmt == "png" else 1}
            return [await k.calc_fig(fig, opts=opts) for fig in figures]

    try:
        with contextlib.ExitStack() as stack:
            images = _run(draw(proxy or stack.enter_context(refusing_proxy())))
    except SuperpositionError:
        raise
    except (Exception, asyncio.CancelledError) as e:  # the browser failed to start, crashed or timed out
        detail = " ".join(str(e).split())[:200] or "no message"
        raise SuperpositionError(f"the browser {browser} could not draw the figures ({type(e).__name__}: {detail}); "
                                 "set BROWSER_PATH to a working chromium or chrome, or use --format html") from None
    return [_mark(bytes(image), fmt) for image in images]


def _mark(image: bytes, fmt: str) -> bytes:
    """Add superposition's mark: a comment before the SVG's root, or a tEXt chunk right after the PNG's header."""
    if fmt == "svg":
        text = image.decode("utf-8")
        if text.startswith("<?xml"):
            end = text.index("?>") + 2
            return (text[:end] + "\n" + SVG_MARK + text[end:]).encode("utf-8")
        return (SVG_MARK + "\n" + text).encode("utf-8")
    if not image.startswith(PNG_SIGNATURE):
        raise SuperpositionError("the browser returned something that is not a PNG image")
    end_of_header = len(PNG_SIGNATURE) + 8 + 13 + 4  # IHDR: length, type, 13 bytes of data, CRC
    chunk = struct.pack(">I", len(_PNG_TEXT)) + b"tEXt" + _PNG_TEXT + struct.pack(">I", zlib.crc32(b"tEXt" + _PNG_TEXT))
    return image[:end_of_header] + chunk + image[end_of_header:]


def write_figures(figures: Sequence[Any], out: str | Path, fmt: str | None = None, *, title: str,
                  overwrite: bool = False) -> list[Path]:
    """Write plotly `figures` as one offline HTML page (`title` heads it) or one SVG/PNG image each; returns the
    files written. Every target is checked before anything is drawn, and again just before it is written."""
    out = Path(out)
    fmt = figure_format(out, fmt)
    figures = list(figures)
    if not figures:
        raise ConfigError("there are no figures to write")
    paths = figure_paths(out, fmt, len(figures))
    for path in paths:
        check_figure_file(path, overwrite=overwrite)
    if fmt == "html":
        from .pages import write_html

        return [write_html(figures, out, title=title)]
    images = render_images(figures, fmt)
    for path, image in zip(paths, images):
        check_figure_file(path, overwrite=overwrite)  # the files may have changed while the browser drew
        atomic_write_bytes(path, image)
    return paths
