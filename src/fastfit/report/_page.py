"""The HTML page of a report (headings, tables, base64 figures) and the formatting
helpers every section uses."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

__all__ = ["MAX_POINTS", "Page", "safe_name", "fmt", "picks"]

MAX_POINTS = 20_000
_TEMPERATURE_KEYS = ("T_K", "temperature_K", "temperature", "T", "temp_K", "T_C", "temperature_C")
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:1em 0}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left}img{max-width:100%;margin:.5em 0;border:1px solid #eee}
.figs{display:flex;flex-wrap:wrap;gap:1em}.figs img{max-width:48%}code{background:#f4f4f4}"""


class Page:
    def __init__(self, out_dir: Path):
        self.out = out_dir
        self.parts: list[str] = []
        self.files: list[Path] = []

    def h(self, level: int, text: str) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str) -> None:
        self.parts.append(f"<p>{text}</p>")

    def figure(self, fig, name: str, group: list | None = None) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        data = buf.getvalue()
        path = self.out / f"{name}.png"
        path.write_bytes(data)
        self.files.append(path)
        tag = (f'<img alt="{html.escape(name)}" src="data:image/png;base64,'
               f'{base64.b64encode(data).decode()}">')
        (group if group is not None else self.parts).append(tag)

    def table(self, header, rows, left=1) -> None:
        th = "".join(f'<th class="{"l" if i < left else ""}">{html.escape(str(h))}</th>'
                     for i, h in enumerate(header))
        body = "".join("<tr>" + "".join(
            f'<td class="{"l" if i < left else ""}">{html.escape(str(c))}</td>'
            for i, c in enumerate(r)) + "</tr>" for r in rows)
        self.parts.append(f"<table><tr>{th}</tr>{body}</table>")

    def write(self, title: str) -> Path:
        doc = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
               f"</title><style>{_CSS}</style></head><body>{''.join(self.parts)}</body></html>")
        path = self.out / "report.html"
        path.write_text(doc, encoding="utf-8")
        return path


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def fmt(v, err=None) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    s = f"{v:.4g}"
    if err is not None and np.isfinite(err):
        s += f" ± {err:.2g}"
    return s


def picks(spectra) -> list[int]:
    """Rows of the first, middle and last spectrum of a run table."""
    n = len(spectra)
    return sorted({0, n // 2, n - 1}) if n else []
