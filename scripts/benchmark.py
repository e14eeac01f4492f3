"""Speed benchmarks: prints a table, and with ``--json`` one flat JSON object on the last line.

    python scripts/benchmark.py --json [--only train] [--sizes base] [--steps 10]

On an accelerator (GPU or TPU; the defaults differ from the CPU ones, see ``--help``):

    python scripts/benchmark.py --json --only train   # base and small, batch 16 and 256
    python scripts/benchmark.py --json --only infer   # base, every decoder

Progress goes to stderr as each program compiles and runs, so a run that is stopped still
shows what finished. Compiled programs go to the persistent compilation cache
(``--compile_cache``; ``whispersign_jax.cli.compile_cache``): a second run loads them.
``compile_cache.hits`` counts the programs loaded from it instead of compiled; pass
``--compile_cache=`` for cold compile times. Every run also reports ``device``,
``platform``, ``cpu``, ``jax`` and ``compile_cache`` (the folder, or "off").

The suites live in ``scripts/benchmarks/``, one module each, and their docstrings say what
each key means: ``train`` (``train.*``, with ``peaks``: ``peak.*``), ``pipeline``
(``pipeline.*``), ``extract`` (``extract.*``), ``infer`` (``infer.*``, with ``streaming``:
``stream.*``), ``export`` (``export.*``) and ``browser`` (``browser.*``). ``corpus``
(``corpus.*``: a 100,000-clip corpus on disk and training on it, about half an hour on 2
cores) runs only when asked for with ``--only corpus``. Model and stage
settings come from ``configs/`` and shapes from ``whispersign_jax.keypoints``.
"""

from __future__ import annotations

import argparse
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

# scripts/ is no package: the suites (and legacy_env, browser_support) import from there,
# however this file is loaded.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import jax
from benchmarks import browser as browser_suite
from benchmarks import corpus as corpus_suite
from benchmarks import export as export_suite
from benchmarks import extract as extract_suite
from benchmarks import infer as infer_suite
from benchmarks import peaks
from benchmarks import pipeline as pipeline_suite
from benchmarks import streaming as streaming_suite
from benchmarks import train as train_suite
from benchmarks.common import WINDOW_FRAMES, count_cache_hits, progress

from whispersign_jax.cli import compile_cache, strict_json

SUITES = ("train", "pipeline", "extract", "infer", "export", "browser", "corpus")
ASKED_ONLY = ("corpus",)  # suites left out of a run without --only


@dataclass(frozen=True)
class Defaults:
    """What runs without flags: the CPU set, or the accelerator set."""

    sizes: str
    batches: str  # "" = --batch
    infer_sizes: str
    matmul_size: int
    compile_workers: int


CPU_DEFAULTS = Defaults("base", "", "tiny,base", 2048, 1)
ACCELERATOR_DEFAULTS = Defaults("base,small", "16,256", "base", 8192, 4)


def platform_defaults() -> Defaults:
    """The CPU defaults on a CPU, else the accelerator ones."""
    return CPU_DEFAULTS if jax.default_backend() == "cpu" else ACCELERATOR_DEFAULTS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags; a default of None means the platform's (``platform_defaults``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--only", choices=list(SUITES), default=None)
    parser.add_argument(
        "--sizes", default=None, help="train: comma-separated sizes (CPU: base; else base,small)"
    )
    parser.add_argument("--batch", type=int, default=16, help="the batch of unsuffixed keys")
    parser.add_argument(
        "--batches", default=None, help="train: comma-separated batches (CPU: --batch; else 16,256)"
    )
    parser.add_argument("--dtypes", default="float32,bfloat16", help="compute dtypes")
    parser.add_argument(
        "--infer_sizes", default=None, help="infer: model sizes (CPU: tiny,base; else base)"
    )
    parser.add_argument("--export_size", default="base", help="export: the model size exported")
    parser.add_argument("--browser_size", default="base", help="browser: the model size served")
    parser.add_argument(
        "--exports",
        default=",".join(f"{fmt}:{dtype}" for fmt, dtype in export_suite.EXPORTS),
        help="export: format:dtype,... (default: all seven)",
    )
    parser.add_argument("--corpus_clips", type=int, default=100_000, help="corpus: clips")
    parser.add_argument("--corpus_steps", type=int, default=300, help="corpus: train steps")
    parser.add_argument("--corpus_workers", type=int, default=2, help="corpus: Beam workers")
    parser.add_argument(
        "--corpus_dir", default="/tmp/whispersign-corpus-benchmark", help="corpus: scratch folder"
    )
    parser.add_argument("--frames", type=int, default=WINDOW_FRAMES)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--infer_repeats", type=int, default=50)
    parser.add_argument(
        "--matmul_size", type=int, default=None, help="of the peak matmul (CPU: 2048; else 8192)"
    )
    parser.add_argument(
        "--compile_workers",
        type=int,
        default=None,
        help="programs compiled at once (CPU: 1; else 4); compile_s then overlap",
    )
    parser.add_argument(
        "--compile_cache",
        default=compile_cache.default_directory(),
        help='persistent compilation cache folder; "" = off (cold compile times)',
    )
    return parser.parse_args(argv)


def run_train(args: argparse.Namespace, defaults: Defaults, workers: int) -> dict:
    """``peak.*`` then ``train.*``."""
    dtypes = args.dtypes.split(",")
    matmul_size = args.matmul_size or defaults.matmul_size
    results, matmul_gflops, published = peaks.measure_peaks(dtypes, matmul_size)
    batches = args.batches or defaults.batches or str(args.batch)
    results.update(
        train_suite.benchmark_train(
            (args.sizes or defaults.sizes).split(","),
            [int(b) for b in batches.split(",")],
            dtypes,
            args.batch,
            args.frames,
            args.steps,
            matmul_gflops,
            published,
            workers,
        )
    )
    return results


def run_infer(args: argparse.Namespace, defaults: Defaults, workers: int) -> dict:
    """``infer.*``, then ``stream.*`` when the base default decoder's window was timed."""
    sizes = (args.infer_sizes or defaults.infer_sizes).split(",")
    dtypes = args.dtypes.split(",")
    results = infer_suite.benchmark_infer(sizes, dtypes, args.infer_repeats, workers)
    window_key = f"infer.base.{infer_suite.STREAM_DECODER}.p50_ms"
    if window_key in results:
        results.update(streaming_suite.benchmark_streaming_latency(results[window_key]))
    return results


def run_suite(name: str, args: argparse.Namespace, defaults: Defaults, workers: int) -> dict:
    """The keys of suite ``name`` (one of ``SUITES``)."""
    if name == "train":
        return run_train(args, defaults, workers)
    if name == "pipeline":
        return pipeline_suite.benchmark_pipeline(args.batch)
    if name == "extract":
        return extract_suite.benchmark_extract()
    if name == "infer":
        return run_infer(args, defaults, workers)
    if name == "export":
        exports = [tuple(spec.split(":")) for spec in args.exports.split(",")]
        return export_suite.benchmark_export(args.export_size, args.infer_repeats, exports)
    if name == "corpus":
        return corpus_suite.benchmark_corpus(
            args.corpus_clips, args.corpus_steps, args.corpus_workers, Path(args.corpus_dir)
        )
    return browser_suite.benchmark_browser(args.browser_size)


def print_results(results: dict, as_json: bool) -> None:
    """The table (floats to 4 significant digits), then the JSON object when asked."""
    width = max(len(k) for k in results)
    for key, value in results.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if as_json:
        print(strict_json.dumps(results))  # a figure that is not finite: null


def main() -> None:
    args = parse_args()
    cache_dir = compile_cache.enable(args.compile_cache)
    cache_counts = count_cache_hits()
    defaults = platform_defaults()
    workers = args.compile_workers or defaults.compile_workers
    device_kind = jax.devices()[0].device_kind
    results: dict[str, float | str | None] = {
        "device": device_kind,
        "platform": jax.default_backend(),
        "cpu": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "compile_cache": cache_dir or "off",
    }
    progress(f"{device_kind} ({jax.default_backend()}), compile cache: {cache_dir or 'off'}")
    for name in SUITES:
        if args.only == name or (args.only is None and name not in ASKED_ONLY):
            results.update(run_suite(name, args, defaults, workers))
    results.update(cache_counts)
    print_results(results, args.json)


if __name__ == "__main__":
    main()
