"""Rewrite a marked block of docs/methodology.md, for the benchmarks that publish tables there."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "methodology.md"


def write_block(name: str, body: str, doc: Path = DOC) -> None:
    """Replace the text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` with ``body``.

    Raises SystemExit when the markers are missing: a table must go where the prose around it
    explains it, not at the end of the file.
    """
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = doc.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise SystemExit(f"{doc} has no {begin} ... {end} markers")
    block = f"{begin}\n{body}\n{end}"
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text,
                  flags=re.DOTALL)
    doc.write_text(text, encoding="utf-8")
    print(f"wrote the {name} block into {doc}")
