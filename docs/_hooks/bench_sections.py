"""MkDocs hook: include the benchmark section files ``docs/_bench_<area>.md``.

``docs/benchmarks.md`` holds one marker line ``<!-- mammokit-bench: <area> -->`` per area.
At build time the marker is replaced by the content of ``docs/_bench_<area>.md`` when that
file exists (the engineers who run a benchmark may write it), or by a line saying that no
figures are recorded yet. ``tests/test_docs.py`` checks that every section file has a
marker, so none is silently left out of the site.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MARKER = re.compile(r"^<!-- mammokit-bench: ([a-z0-9_]+) -->$", re.MULTILINE)
NOT_YET = "*No figures recorded yet.*"


def section_path(docs_dir: Path, area: str) -> Path:
    """The section file of one benchmark area."""
    return docs_dir / f"_bench_{area}.md"


def demote_headings(markdown: str) -> str:
    """Every Markdown heading one level deeper (outside code fences), so that a section
    file's ``##`` headings nest under the page's ``##`` section of that area."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,5} ", line):
            line = "#" + line
        lines.append(line)
    return "\n".join(lines)


def render(markdown: str, docs_dir: Path) -> str:
    """``markdown`` with every marker replaced by its section file (or :data:`NOT_YET`)."""

    def replace(match: re.Match[str]) -> str:
        path = section_path(docs_dir, match.group(1))
        if not path.is_file():
            return NOT_YET
        return demote_headings(path.read_text(encoding="utf-8").strip())

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    """MkDocs event: fill the markers of the benchmarks page."""
    return render(markdown, Path(config["docs_dir"]))
