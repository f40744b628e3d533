"""The ``sme`` command.

``sme run CONFIG.yaml [--set KEY=VALUE ...] [--preflight]``
    The Dask batch pipeline (the main job). It prints the preflight (the expected acceptance
    rate, attempts and time, and a threshold that works when the one given is too hard) before
    any work; ``--preflight`` prints only that and exits.
``sme calibrate CONFIG.yaml [--set KEY=VALUE ...]``
    Walk-forward calibration: at origins along the history, each method of the config's
    ``calibration`` section forecasts ``horizon`` bars from what it saw up to there; prints how
    often the central 90 % band of its scenarios held what happened next, per path statistic,
    and writes ``calibration.parquet``, ``calibration.json`` and ``report.html``.
``sme generate INPUT --n-samples N --min-fidelity F --out DIR [--preflight]``
    Generate in this process, one CSV (and optionally XLSX) per series; the preflight first.
``sme metrics INPUT``
    The metric table of a file.
``sme report RUN_DIR [--out NAME] [--max-series N]``
    Write the HTML fidelity report of a finished run into its directory; prints its path.
``sme export RUN_DIR [--parquet] [--npz] [--tfrecord] [--window 24] [--stride N] [--dest DIR]``
    Export a finished run for ML: a Parquet dataset, and NPZ and TFRecord windows of the
    ``--features`` (default log-return, intrabar and volume features); prints where each went.
``sme inspect FILE [--json] [--column FIELD=NAME ...] [--skiprows N] [--date-format FMT]``
    How the file is read, before any generation: which column became which field, lines
    skipped, time format and zone, order, frequency, gaps, rows dropped or repaired, the volume
    column taken, suspect bars. A refused file prints the message and its first rows.
``sme serve --host 127.0.0.1 --port 8000 --data-dir DIR [--scheduler ADDRESS] [--workers N]``
    The REST API and web dashboard (``docs/rest_api.md``).

Bad input or configuration exits with code 2 and a message that says what to fix; a run whose
scenarios could not reach ``min_fidelity`` exits with code 3 (``sme run`` keeps the accepted
ones and says how to finish the run from them at a threshold that works).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import warnings
from collections.abc import Sequence

from pipeline.errors import (
    ConfigError,
    FidelityNotReachedError,
    InputDataError,
    PreflightWarning,
    SMEError,
    SMEWarning,
)
from pipeline.redaction import redact_text

__all__ = ["main"]

EXIT_BAD_INPUT = 2
EXIT_FIDELITY = 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sme", description="Synthetic Market Engine: synthetic OHLCV series by block bootstrap."
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run the batch pipeline from a YAML config")
    run.add_argument("config", nargs="?", help="YAML config (default: the built-in defaults)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key, e.g. --set generation.n_samples=5000")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--preflight", action="store_true",
                     help="print the preflight (expected acceptance, attempts, time) and exit")

    cal = sub.add_parser("calibrate", help="walk forward: would the scenarios have covered "
                         "what happened next?")
    cal.add_argument("config", nargs="?", help="YAML config with a calibration section "
                     "(default: the built-in defaults)")
    cal.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key, e.g. --set calibration.step=63")
    cal.add_argument("--no-progress", action="store_true", help="no progress bar")

    gen = sub.add_parser("generate", help="generate series in this process and write CSV files")
    gen.add_argument("input", help="OHLCV file or URL, or sample:sp500")
    gen.add_argument("--n-samples", type=int, default=10)
    gen.add_argument("--min-fidelity", type=float, default=90.0)
    gen.add_argument("--max-attempts", type=int, default=200)
    gen.add_argument("--method", default="stationary",
                     choices=["stationary", "circular", "moving", "iid", "garch", "regime"])
    gen.add_argument("--garch-vol", default="garch", choices=["garch", "gjr", "egarch"],
                     help="volatility model of --method garch")
    gen.add_argument("--condition", default=None,
                     choices=["high_volatility", "low_volatility"],
                     help="--method regime: favour a regime")
    gen.add_argument("--share", type=float, default=None,
                     help="--method regime: long-run share of the conditioned regime")
    gen.add_argument("--timeframes", default="",
                     help="higher timeframes written with each series, e.g. 1h,1D")
    gen.add_argument("--block-size", default="auto", help="'auto' or an integer")
    gen.add_argument("--length", type=int, default=None, help="bars per series")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--out", default="outputs/generated", help="output directory")
    gen.add_argument("--xlsx", action="store_true", help="also write an XLSX per series")
    gen.add_argument("--repair", action="store_true", help="drop or fix invalid input rows")
    gen.add_argument("--preflight", action="store_true",
                     help="print the preflight (expected acceptance, attempts, time) and exit")
    _add_read_options(gen)

    met = sub.add_parser("metrics", help="print the metric table of an OHLCV file")
    met.add_argument("input", help="OHLCV file or URL, or sample:sp500")
    met.add_argument("--repair", action="store_true")
    _add_read_options(met)

    ins = sub.add_parser("inspect", help="show how an OHLCV file is read (columns, time, order, "
                                         "gaps, volume, suspect bars)")
    ins.add_argument("input", help="OHLCV file or URL")
    ins.add_argument("--json", action="store_true", help="the read report as JSON")
    ins.add_argument("--repair", action="store_true", help="drop or fix invalid input rows")
    ins.add_argument("--layout", choices=["single", "long", "wide"], default="single",
                     help="the file holds one series, or several assets (long or wide)")
    ins.add_argument("--symbol-column", default="symbol", help="symbol column of a long table")
    _add_read_options(ins)

    rep = sub.add_parser("report", help="write the HTML fidelity report of a finished run")
    rep.add_argument("run_dir", help="a run's output directory or URL (holds manifest.json)")
    rep.add_argument("--out", default="report.html", help="file name inside RUN_DIR")
    rep.add_argument("--max-series", type=int, default=200,
                     help="series read for the plots and tests (default 200)")

    exp = sub.add_parser("export", help="export a finished run as a Parquet dataset and "
                                        "NPZ/TFRecord feature windows for ML")
    exp.add_argument("run_dir", help="a run's output directory or URL (holds manifest.json)")
    exp.add_argument("--parquet", action="store_true", help="hive-partitioned Parquet dataset")
    exp.add_argument("--npz", action="store_true", help="feature windows as a NumPy .npz")
    exp.add_argument("--tfrecord", action="store_true",
                     help="feature windows as tf.train.Example records")
    exp.add_argument("--window", type=int, default=24, help="bars per window (default 24)")
    exp.add_argument("--stride", type=int, default=None,
                     help="bars between window starts (default: the window, no overlap)")
    exp.add_argument("--features", default=None,
                     help="comma-separated window features (default: log_return, "
                          "log_high_close, log_low_close, log_open_gap[, log1p_volume])")
    exp.add_argument("--dest", default=None,
                     help="output directory or URL (default RUN_DIR/ml)")

    srv = sub.add_parser("serve", help="serve the REST API and the web dashboard")
    srv.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--data-dir", default="sme-data",
                     help="datasets and job outputs (local path or fsspec URL)")
    srv.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="Dask scheduler to use instead of a LocalCluster")
    srv.add_argument("--workers", type=int, default=None, help="LocalCluster workers")
    srv.add_argument("--threads", action="store_true",
                     help="LocalCluster of threads in the server process (no worker processes)")
    srv.add_argument("--max-upload-mb", type=float, default=200,
                     help="largest upload as sent (compressed), in MB (default 200)")
    srv.add_argument("--max-upload-inflated-mb", type=float, default=None,
                     help="largest upload content once decompressed, in MB (default 512)")
    srv.add_argument("--max-upload-line-kb", type=float, default=None,
                     help="longest CSV line of an upload, in KB (default 64)")
    srv.add_argument("--max-upload-columns", type=int, default=None,
                     help="most columns of an upload (default 1000)")
    srv.add_argument("--max-upload-rows", type=int, default=None,
                     help="most rows of an upload (default 1,000,000)")
    srv.add_argument("--upload-parse-seconds", type=float, default=120.0,
                     help="time budget of one upload's parse (default 120)")
    srv.add_argument("--max-concurrent-jobs", type=int, default=2)
    srv.add_argument("--cors-origin", dest="cors_origins", action="append", default=[],
                     metavar="ORIGIN", help="allow this origin (CORS); repeatable")
    srv.add_argument("--ui-dir", default=None, help="built dashboard (default ui/dist)")
    srv.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="server-side run setting under every job, e.g. "
                          "--set scoring.n_replicates=128")
    srv.add_argument("--log-level", default="info",
                     choices=["critical", "error", "warning", "info", "debug"])
    return p


_VERDICTS = {"will_fail": "will most likely fail", "may_fail": "may fail", "slow": "will be slow"}


def _print_preflight(check, option: str) -> None:
    """The preflight as one paragraph on stderr; when it is not ok, what to do about it.

    ``option`` is the command-line option that sets the threshold, e.g.
    ``--set generation.min_fidelity=``. The threshold itself is never changed here.
    """
    # No line break between a number and its unit ("25 %").
    text = f"preflight: {check.message}".replace(" %", "\u00a0%")
    print(textwrap.fill(text, width=100, break_on_hyphens=False).replace("\u00a0", " "),
          file=sys.stderr)
    if check.ok:
        return
    head = (f"warning: this run {_VERDICTS.get(check.verdict, check.verdict)} at min_fidelity "
            f"{check.min_fidelity:g}, which is kept as given")
    if check.suggested_min_fidelity is not None:
        tail = f"; to use the suggested {check.suggested_min_fidelity:g} instead: " \
               f"{option}{check.suggested_min_fidelity:g}"
    else:
        tail = "; a lower threshold or more max_attempts would help"
    print(head + tail, file=sys.stderr)


def _add_read_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--column", dest="columns", action="append", default=[],
                        metavar="FIELD=NAME", help="the file's column for a field (time, open, "
                        "high, low, close, volume), e.g. --column time=dt; repeatable")
    parser.add_argument("--skiprows", type=int, default=None, metavar="N",
                        help="lines above the header row (default: detected)")
    parser.add_argument("--date-format", default=None, metavar="FMT",
                        help="strftime format of the time column, e.g. '%%d.%%m.%%Y %%H:%%M'")


def _read_options(args) -> dict:
    columns = {}
    for item in args.columns:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--column {item!r}: expected FIELD=NAME, e.g. --column time=dt")
        columns[key.strip()] = value.strip()
    return {"columns": columns or None, "skiprows": args.skiprows,
            "date_format": args.date_format}


def _load(source: str, repair: bool, read: dict | None = None):
    from pipeline.io.readers import load_ohlcv, load_sample

    if source.startswith("sample:"):
        return load_sample(source.split(":", 1)[1])
    return load_ohlcv(source, repair=repair, **(read or {}))


def _cmd_inspect(args) -> int:
    import json

    from pipeline.io.assets import load_assets
    from pipeline.io.inspect import READ_REPORT, ReadReport

    read = _read_options(args)
    try:
        if args.layout == "single":
            frames = {"": _load(args.input, args.repair, read)}
        else:
            frames = load_assets(args.input, layout=args.layout, repair=args.repair,
                                 symbol_column=args.symbol_column, **read)
    except InputDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _print_preview(args.input)
        return EXIT_BAD_INPUT
    reports = {s: ReadReport.from_dict(f.attrs[READ_REPORT]) for s, f in frames.items()}
    if args.json:
        data = {s: r.to_dict() for s, r in reports.items()}
        print(json.dumps(data[""] if "" in data else data, indent=2))
        return 0
    for symbol, report in reports.items():
        if symbol:
            print(f"== {symbol}")
        print(report.to_text())
    return 0


def _print_preview(source: str) -> None:
    """The file's first rows, so that the right --column/--skiprows can be chosen."""
    import fsspec

    from pipeline.io.inspect import PREVIEW_LINES, preview_table

    try:
        with fsspec.open(source, "rb") as handle:
            data = handle.read(1 << 20)
    except Exception:  # noqa: BLE001 - the error above already says why the file failed
        return
    preview = preview_table(data, source)
    if not preview["rows"]:
        return
    print(f"first {min(len(preview['rows']), PREVIEW_LINES)} rows as read (the header is row "
          f"{preview['header_row']}; rows above it are skipped):", file=sys.stderr)
    for i, row in enumerate(preview["rows"]):
        print(f"  {i:>2}| " + " | ".join(row), file=sys.stderr)


def _cmd_metrics(args) -> int:
    from pipeline.core.metrics import compute_metrics

    frame = _load(args.input, args.repair, _read_options(args))
    table = compute_metrics(frame)
    print(f"{frame.attrs.get('source', args.input)}: {len(frame)} bars, "
          f"{frame.index[0]} .. {frame.index[-1]}")
    print(table.to_string(float_format=lambda v: f"{v:.6g}"))
    return 0


def _cmd_generate(args) -> int:
    import numpy as np

    from pipeline.core.timeframes import timeframe_label
    from pipeline.factory import SyntheticDataFactory
    from pipeline.io.run import scenario_number
    from pipeline.io.writers import OutputStore

    block = args.block_size if args.block_size == "auto" else _int_arg("--block-size",
                                                                        args.block_size)
    frame = _load(args.input, args.repair, _read_options(args))
    regime = {"condition": args.condition} if args.condition else {}
    if args.share is not None:
        regime["share"] = args.share
    timeframes = [t.strip() for t in args.timeframes.split(",") if t.strip()]
    factory = SyntheticDataFactory(frame, method=args.method, block_size=block,
                                   length=args.length, seed=args.seed,
                                   garch={"vol": args.garch_vol}, regime=regime,
                                   timeframes=timeframes)
    _print_preflight(factory.preflight(args.n_samples, args.min_fidelity,
                                       max_attempts=args.max_attempts), "--min-fidelity ")
    if args.preflight:
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreflightWarning)  # printed above
        series = factory.generate(args.n_samples, args.min_fidelity,
                                  max_attempts=args.max_attempts, progress=sys.stderr.isatty())
    store = OutputStore(args.out)
    aggregated = {rule: series.timeframe(rule) for rule in timeframes}
    for i, s in enumerate(series):
        k = scenario_number(i)  # files count from 1
        store.write_frame(f"synthetic_{k}.csv", s, "csv")
        if args.xlsx:
            store.write_frame(f"synthetic_{k}.xlsx", s, "xlsx")
        for rule, frames in aggregated.items():
            store.write_frame(f"synthetic_{k}_{timeframe_label(rule)}.csv", frames[i], "csv")
    scores = series.metrics.assign(score=series.scores, attempt=series.attempts)
    for rule in timeframes:
        scores[f"score_{rule}"] = series.timeframe_scores[rule]
    store.write_bytes("scores.csv", scores.to_csv().encode())
    print(f"{len(series)} series written to {args.out} (block size {factory.block_size}); "
          f"fidelity min {series.scores.min():.2f}, median {np.median(series.scores):.2f}, "
          f"max {series.scores.max():.2f}")
    return 0


def _int_arg(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name}: expected 'auto' or an integer, got {value!r}") from None


def _cmd_run(args) -> int:
    from pipeline.config import load_config
    from pipeline.runner.coordinator import run_pipeline, run_preflight

    cfg = load_config(args.config, args.overrides)
    option = "--set generation.min_fidelity="
    if args.preflight:
        _print_preflight(run_preflight(cfg), option)
        return 0
    bar = None
    announced = False

    def on_progress(p) -> None:
        nonlocal bar, announced
        if p.dashboard_link and not announced:
            print(f"Dask dashboard: {p.dashboard_link}", file=sys.stderr)
            announced = True
        if p.stage == "preparing":
            print("preparing input and reference metrics ...", file=sys.stderr)
            return
        if p.stage == "preflight":
            _print_preflight(p.preflight, option)
            return
        if args.no_progress:
            return
        if bar is None and p.stage == "generating":
            from tqdm.auto import tqdm

            bar = tqdm(total=p.requested, initial=p.accepted, desc="accepted", unit="series",
                       file=sys.stderr, dynamic_ncols=True)
        if bar is not None:
            bar.update(p.accepted - bar.n)
            rate = p.acceptance_rate
            bar.set_postfix_str(
                f"attempts={p.attempts} acceptance={'-' if rate is None else f'{rate:.0%}'} "
                f"failed={p.failed}"
            )
            if p.stage in ("bundling", "done"):
                bar.close()
                bar = None
                if p.stage == "bundling":
                    print("writing ZIP bundles, scores and manifest ...", file=sys.stderr)

    try:
        result = run_pipeline(cfg, progress=on_progress)
    finally:
        if bar is not None:
            bar.close()
    print(result.summary().to_string(header=False))
    print(f"outputs: {redact_text(result.output_path)}  "
          f"(manifest: {redact_text(result.manifest_path)})")
    return 0


def _cmd_calibrate(args) -> int:
    from pipeline.runner.calibrate import calibrate

    bar = None

    def on_progress(p) -> None:
        nonlocal bar
        if p.stage == "fitting":
            print(f"calibration {p.run_id}: {p.total} origins"
                  + (f", {p.resumed} already done" if p.resumed else ""), file=sys.stderr)
        if args.no_progress or p.stage not in ("fitting", "origins"):
            return
        if bar is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=p.total, initial=p.done, desc="origins", unit="origin",
                       file=sys.stderr, dynamic_ncols=True)
        bar.update(p.done - bar.n)

    try:
        result = calibrate(args.config, progress=on_progress, overrides=tuple(args.overrides))
    finally:
        if bar is not None:
            bar.close()
    horizon = result.summary.horizon
    print(f"share of {result.origins} origins whose next {horizon} bars fell in the central "
          "90 % band of the scenarios (0.90 if calibrated):")
    print(result.coverage(0.9).to_string(float_format=lambda v: f"{v:.2f}"))
    for row in result.summary.rows:
        if row.verdict != "calibrated":
            print(f"- {row.sentence}")
    for method, n in result.failed_fits().items():
        print(f"- {method}: could not be fitted at {n} of {result.origins} origins (judged on "
              "the others; calibration.json says why)")
    print(f"outputs: {redact_text(result.output_path)}  (report: "
          f"{redact_text(result.report_path)})")
    return 0


def _cmd_report(args) -> int:
    from pipeline.report import write_report

    print(write_report(args.run_dir, max_series=args.max_series, out_name=args.out))
    return 0


def _cmd_export(args) -> int:
    from pipeline.export import export_run

    chosen = {"parquet": args.parquet, "npz": args.npz, "tfrecord": args.tfrecord}
    if not any(chosen.values()):
        chosen = dict.fromkeys(chosen, True)
    done = export_run(args.run_dir, args.dest, window=args.window, stride=args.stride,
                      features=args.features, **chosen)
    labels = {"parquet": "parquet dataset", "npz": "npz windows", "tfrecord": "tfrecord windows"}
    for key, where in done.items():
        print(f"{labels[key]}: {where}")
    return 0


def _server_limits(args):
    """The server's input limits with the ``--max-upload-*`` options applied."""
    from pipeline.io.limits import SERVER_LIMITS

    given = {"max_bytes": (args.max_upload_inflated_mb, 2**20),
             "max_line_bytes": (args.max_upload_line_kb, 1024),
             "max_columns": (args.max_upload_columns, 1), "max_rows": (args.max_upload_rows, 1)}
    changes = {}
    for limit, (value, unit) in given.items():
        if value is None:
            continue
        if value <= 0:
            raise ConfigError(f"{SERVER_LIMITS.option(limit).split()[-1]}: expected a positive "
                              f"number, got {value:g}")
        changes[limit] = int(value * unit)
    return SERVER_LIMITS.replace(**changes)


def _cmd_serve(args) -> int:
    from pipeline.api.server import serve
    from pipeline.config import apply_overrides

    serve(args.host, args.port, args.data_dir, scheduler=args.scheduler, workers=args.workers,
          processes=not args.threads, max_upload_mb=args.max_upload_mb,
          input_limits=_server_limits(args), upload_parse_seconds=args.upload_parse_seconds,
          max_concurrent_jobs=args.max_concurrent_jobs, cors_origins=args.cors_origins,
          ui_dir=args.ui_dir, run_overrides=apply_overrides({}, args.overrides),
          log_level=args.log_level)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sme`` command; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        import pipeline

        print(pipeline.__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    handlers = {"run": _cmd_run, "generate": _cmd_generate, "metrics": _cmd_metrics,
                "report": _cmd_report, "calibrate": _cmd_calibrate, "serve": _cmd_serve, "export": _cmd_export,
                "inspect": _cmd_inspect}
    # Engine warnings (repairs, missing volume) are for the user, one line each.
    warnings.simplefilter("default", SMEWarning)
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    try:
        return handlers[args.command](args)
    except (InputDataError, ConfigError) as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FidelityNotReachedError as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        if exc.output_path is not None:
            where = redact_text(exc.output_path)
            print(f"the {exc.accepted} accepted scenario(s) are in {where}", file=sys.stderr)
            if exc.suggested_min_fidelity is not None:
                print("to finish the run from them: --set generation.min_fidelity="
                      f"{exc.suggested_min_fidelity:g} --set output.resume_from={where}",
                      file=sys.stderr)
        return EXIT_FIDELITY
    except SMEError as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
