"""Run the Dask batch pipeline from Python: a local cluster, a progress callback, the results.

    python examples/batch_processing.py [--n-samples 200] [--out outputs/batch-{run_id}]

The same call works against a remote cluster: pass ``Client("tcp://scheduler:8786")``.
"""

from __future__ import annotations

import argparse

from distributed import Client, LocalCluster

from pipeline import run_pipeline


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="outputs/batch-{run_id}")
    args = parser.parse_args(argv)

    config = {
        "input": {"sample": "sp500"},
        "generation": {"n_samples": args.n_samples, "min_fidelity": 90.0, "seed": 1},
        "output": {"path": args.out, "formats": ["parquet"], "zip": False},
    }

    def on_progress(p) -> None:
        if p.stage == "generating" and p.attempts:
            print(f"  {p.accepted}/{p.requested} accepted, {p.attempts} attempts, "
                  f"acceptance {p.acceptance_rate:.0%}")

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        print(f"dashboard: {client.dashboard_link}")
        result = run_pipeline(config, client=client, progress=on_progress)

    print(result.summary().to_string(header=False))
    worst = result.scores.nsmallest(3, "score")[["scenario", "score", "max_drawdown"]]
    print("lowest-scoring accepted scenarios:")
    print(worst.to_string(index=False))


if __name__ == "__main__":
    main()
