"""The reproduction report: one offline HTML page and `claims.json`.

The page embeds plotly.js once (no network at all), opens with a summary of every claim, then gives each
experiment a section: its explanation, notes (e.g. what `--quick` shrank), figures, and a table of claims with the
kind of each (measured from trained runs, or exact: theory or a hand-built construction), the expected value, the
measured value and the verdict. A tiny script, first in the page, records JavaScript errors in
`document.documentElement.dataset.jsErrors` so a headless browser test can read them.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly
import torch
from plotly.offline import get_plotlyjs

from . import __version__
from .experiments.base import KINDS
from .experiments.runner import Section
from .files import GENERATOR, atomic_write_text, check_output_dir, written_by_us
from .pages import figure_div
from .provenance import collect

TITLE = "Superposition: the literature's claims, reproduced"

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1500px;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em} .meta{color:#666} section.experiment{border-top:2px solid #ddd;margin-top:2.5em}
table{border-collapse:collapse;margin:1em 0;font-size:.92em;width:100%}
th,td{border:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4} .verdict-reproduced{color:#176f2c;font-weight:600}
.verdict-not-reproduced{color:#b3261e;font-weight:600} .note{color:#555;font-size:.9em}
.sp-figure{margin:1.5em 0;overflow-x:auto} .notes{background:#fff8e1;padding:.6em 1em;border-left:4px solid #f5c211}
"""

_ERROR_HOOK = (
    "window.__spErrors=[];window.addEventListener('error',function(e){window.__spErrors.push(String(e.message));"
    "document.documentElement.dataset.jsErrors=String(window.__spErrors.length);});"
)


def _e(text: Any) -> str:
    return html.escape(str(text))


def _claim_rows(sections: Sequence[Section], with_experiment: bool) -> str:
    rows = []
    for section in sections:
        for claim in section.findings.claims:
            cls = "verdict-" + claim.verdict.replace(" ", "-")
            first = f'<td><a href="#{_e(section.experiment.name)}">{_e(section.experiment.name)}</a></td>' if with_experiment else ""
            note = f'<div class="note">{_e(claim.note)}</div>' if claim.note else ""
            rows.append(
                f'<tr class="claim" data-claim="{_e(claim.id)}" data-kind="{_e(claim.kind)}">{first}<td>{_e(claim.id)}</td>'
                f"<td>{_e(claim.kind)}</td>"
                f"<td>{_e(claim.sentence)}{note}</td><td>{_e(claim.expected)}<div class=\"note\">{_e(claim.source)}</div></td>"
                f'<td>{_e(claim.measured)}</td><td class="{cls}">{_e(claim.verdict)}</td></tr>'
            )
    head = ("<th>experiment</th>" if with_experiment else "") + (
        "<th>claim</th><th>kind</th><th>statement</th><th>expected (source)</th><th>measured</th><th>verdict</th>"
    )
    return f'<table class="claims"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _section_html(section: Section, index: int) -> str:
    exp, findings = section.experiment, section.findings
    paragraphs = "".join(f"<p>{_e(p.strip())}</p>" for p in exp.explanation.strip().split("\n\n"))
    notes = (
        '<div class="notes"><ul>' + "".join(f"<li>{_e(n)}</li>" for n in findings.notes) + "</ul></div>"
        if findings.notes
        else ""
    )
    figures = "".join(
        f'<div class="sp-figure">{figure_div(fig, f"{exp.name}-figure-{k}")}</div>'
        for k, fig in enumerate(findings.figures)
    )
    timing = (
        f'<p class="meta">{section.seconds:.1f} s; {section.trained} run(s) trained, {section.reused} reused from the '
        "cache.</p>"
    )
    return (
        f'<section class="experiment" id="{_e(exp.name)}"><h2>{index}. {_e(exp.title)}</h2>{paragraphs}{notes}'
        f"{figures}<h3>Claims</h3>{_claim_rows([section], with_experiment=False)}{timing}</section>"
    )


def claims_document(sections: Sequence[Section], quick: bool, seconds: float) -> dict[str, Any]:
    claims = [
        {"experiment": s.experiment.name, **c.to_dict()} for s in sections for c in s.findings.claims
    ]
    reproduced = sum(c["reproduced"] for c in claims)
    by_kind = {
        kind: {"claims": sum(c["kind"] == kind for c in claims),
               "reproduced": sum(c["kind"] == kind and c["reproduced"] for c in claims)}
        for kind in KINDS
    }
    return {
        "title": TITLE,
        "quick": quick,
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"superposition": __version__, "torch": torch.__version__, "plotly": plotly.__version__},
        "provenance": collect("cpu"),  # the report's process: Python, platform, and the git commit of a checkout
        "seconds": round(seconds, 1),
        "summary": {"claims": len(claims), "reproduced": reproduced, "not_reproduced": len(claims) - reproduced,
                    "by_kind": by_kind},
        "experiments": [
            {"name": s.experiment.name, "title": s.experiment.title, "seconds": round(s.seconds, 1),
             "trained": s.trained, "reused": s.reused, "notes": s.findings.notes}
            for s in sections
        ],
        "claims": claims,
    }


def is_report_directory(path: str | Path) -> bool:
    """Whether `path` holds only what a report writes (a report killed before its page still counts): runs/, and an
    index.html and claims.json of ours (the page carries GENERATOR, claims.json the report's title)."""
    path = Path(path)
    try:
        names = {p.name for p in path.iterdir()}
    except OSError:
        return False
    if not names <= {"index.html", "claims.json", "runs"} or ("runs" in names and not (path / "runs").is_dir()):
        return False
    if "claims.json" in names:  # reports written before pages carried GENERATOR are recognised by this file
        try:
            doc = json.loads((path / "claims.json").read_text())
        except (OSError, ValueError, RecursionError):
            return False
        return isinstance(doc, dict) and doc.get("title") == TITLE
    return "index.html" not in names or written_by_us(path / "index.html")


def check_report_dir(out: str | Path) -> Path:
    """Validate a report directory before any training: a new or empty directory, or a report written before (its
    runs are reused); never the working directory, a link, a file, or a directory holding other files."""
    return check_output_dir(out, what="a superposition report", ours=is_report_directory)


def _commit(doc: dict[str, Any]) -> str:
    """", commit abc123def456" when the report was made from a checkout (" with changes" when it was dirty)."""
    git = doc["provenance"]["git"]
    if not git or not git.get("commit"):
        return ""
    return f", commit {git['commit'][:12]}" + (" with uncommitted changes" if git.get("dirty") else "")


def kind_summary(summary: dict[str, Any]) -> str:
    """The summary's counts by kind, in words: which verdicts read trained runs and which do not."""
    m, x = summary["by_kind"]["measured"], summary["by_kind"]["exact"]
    return (f"Measured claims (the verdict reads trained runs): {m['reproduced']} of {m['claims']} reproduced. "
            f"Exact claims (theory or a hand-built construction, no training): {x['reproduced']} of {x['claims']}.")


def write_report(out: str | Path, sections: Sequence[Section], quick: bool, seconds: float) -> dict[str, Any]:
    """Write `out/index.html` and `out/claims.json`; returns the claims document."""
    out = Path(out)
    doc = claims_document(sections, quick, seconds)
    s = doc["summary"]
    mode = (
        "Quick mode (--quick): fewer steps and smaller sweeps than the sources, for CI; verdicts may differ from a "
        "full run."
        if quick
        else "Full run, with the sources' settings except where a section's notes say otherwise."
    )
    timings = "".join(
        f"<tr><td>{_e(e['name'])}</td><td>{e['seconds']}</td><td>{e['trained']}</td><td>{e['reused']}</td></tr>"
        for e in doc["experiments"]
    )
    body = (
        f"<h1>{_e(TITLE)}</h1>"
        f'<p class="meta">{_e(mode)} Generated {_e(doc["generated"])} by superposition {__version__} '
        f"(torch {_e(torch.__version__)}){_e(_commit(doc))} in {seconds:.0f} s.</p>"
        f'<p id="summary"><b>{s["reproduced"]} of {s["claims"]} claims reproduced</b>; '
        f"{s['not_reproduced']} not reproduced. {_e(kind_summary(s))}</p>"
        f'<h2>Summary</h2>{_claim_rows(sections, with_experiment=True)}'
        + "".join(_section_html(section, i + 1) for i, section in enumerate(sections))
        + '<section class="experiment"><h2>Timings</h2><table><thead><tr><th>experiment</th><th>seconds</th>'
        f"<th>runs trained</th><th>runs reused</th></tr></thead><tbody>{timings}</tbody></table></section>"
    )
    page = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n{GENERATOR}\n'
        f"<title>{_e(TITLE)}</title>\n<style>{_CSS}</style>\n<script>{_ERROR_HOOK}</script>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>\n<body>\n{body}\n</body>\n</html>\n'
    )
    atomic_write_text(out / "index.html", page)
    atomic_write_text(out / "claims.json", json.dumps(doc, indent=2) + "\n")
    return doc
