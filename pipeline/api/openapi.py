"""The API's OpenAPI schema as a file, from which the dashboard's TypeScript types are made.

``python -m pipeline.api.openapi ui/openapi.json`` writes the schema that ``/openapi.json``
serves; ``npm run gen:types`` (in ``ui/``) turns it into ``ui/src/lib/schema.gen.ts``, whose
types ``ui/src/lib/types.ts`` exports to the dashboard. ``make types`` runs both.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

__all__ = ["main", "openapi_schema"]


def openapi_schema() -> dict:
    """The OpenAPI schema of :func:`~pipeline.api.app.create_app`'s app.

    The app is built on an empty temporary data directory and never started, so nothing is
    read or written and no Dask cluster is started.
    """
    from .app import create_app

    with tempfile.TemporaryDirectory(prefix="sme-openapi-") as data_dir:
        return create_app(data_dir, ui_dir=data_dir).openapi()


def main(argv: list[str] | None = None) -> None:
    """Write the schema as indented JSON to the file given (``-``: standard output)."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.api.openapi",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("output", help="file to write, or - for standard output")
    args = parser.parse_args(argv)
    text = json.dumps(openapi_schema(), indent=2) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
