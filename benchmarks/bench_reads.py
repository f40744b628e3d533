"""Reading a large finished run: the run folder, the report, and the REST routes of a job.

Run from the repository root on the output directory of a finished run (e.g. 100,000
scenarios: ``sme run`` with ``generation.n_samples: 100000``)::

    python benchmarks/bench_reads.py RUN_DIR [--repeat 2] [--skip-report]

Measures, each in wall seconds:

1. ``open_run(RUN_DIR, check_files=False)`` and ``RunFolder.scores()``;
2. the report's build (:func:`pipeline.report.build_report`, 200 series read), and the size
   of the HTML it writes;
3. the REST API on a job whose output is ``RUN_DIR`` (linked into a temporary data
   directory, the app in this process through Starlette's TestClient, a LocalCluster of one
   thread that no route here uses): ``GET /api/jobs/{id}/results`` first and again, a page
   of ``GET /api/jobs/{id}/scenarios`` when the server has that route, one scenario's
   ``/series/{k}`` and the ``manifest.json`` download — with each response's size.

The series files the fan chart and ``/series`` read must be in the folder (the first 200
scenarios'); the others may be deleted to save disk. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from distributed import Client, LocalCluster  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from pipeline.api import create_app  # noqa: E402
from pipeline.io.run import open_run  # noqa: E402
from pipeline.report import build_report  # noqa: E402


def timed(label: str, fn, repeat: int = 1):
    """Run ``fn`` ``repeat`` times; print the best wall time; return the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    print(f"{label:<44} {best:8.2f} s")
    return out


def _job_dir(data: Path, run_dir: Path) -> str:
    """A finished job in ``data`` whose output is ``run_dir`` (a symbolic link)."""
    job_id = f"job_{uuid.uuid4().hex}"
    manifest = open_run(run_dir, check_files=False).manifest
    folder = data / "jobs" / job_id
    folder.mkdir(parents=True)
    (folder / "output").symlink_to(run_dir.resolve(), target_is_directory=True)
    record = {"id": job_id, "status": "succeeded", "run_id": manifest.run_id,
              "dataset_id": "ds_" + "0" * 32, "request": {"formats": ["parquet"]},
              "artifacts": ["parquet", "manifest.json", "scores.parquet"],
              "created_at": "2026-01-01T00:00:00+00:00", "progress": {}}
    (folder / "job.json").write_text(json.dumps(record))
    return job_id


def bench_api(run_dir: Path, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                         dashboard_address=None) as cluster, Client(cluster) as dask:
        data = Path(tmp) / "data"
        job_id = _job_dir(data, run_dir)
        with TestClient(create_app(data, client=dask)) as client:
            base = f"/api/jobs/{job_id}"

            def get(route: str, **params):
                r = client.get(base + route, params=params)
                r.raise_for_status()
                return r

            r = timed("GET /results (first)", lambda: get("/results"))
            print(f"{'  response':<44} {len(r.content) / 2**20:8.2f} MB")
            timed("GET /results (again)", lambda: get("/results"), repeat)
            if client.get(base + "/scenarios").status_code == 200:
                r = timed("GET /scenarios?offset=50000&sort=-score",
                          lambda: get("/scenarios", offset=50_000, limit=100, sort="-score"),
                          repeat)
                print(f"{'  response':<44} {len(r.content) / 2**10:8.1f} kB")
            timed("GET /series/1", lambda: get("/series/1"), repeat)
            r = timed("GET /download/manifest.json",
                      lambda: get("/download/manifest.json"), repeat)
            print(f"{'  response':<44} {len(r.content) / 2**20:8.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-report", action="store_true")
    args = parser.parse_args()

    run = timed("open_run (check_files=False)",
                lambda: open_run(args.run_dir, check_files=False), args.repeat)
    print(f"{'  scenarios':<44} {len(run.scenarios):8d}")
    timed("RunFolder.scores()", run.scores, args.repeat)
    if not args.skip_report:
        html = timed("report build (200 series)", lambda: build_report(str(args.run_dir)))
        print(f"{'  report.html':<44} {len(html.encode()) / 2**20:8.2f} MB")
    bench_api(args.run_dir, args.repeat)


if __name__ == "__main__":
    main()
