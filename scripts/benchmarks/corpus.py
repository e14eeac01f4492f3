"""The corpus suite (``--only corpus``): a synthetic continuous corpus written to disk by the
Beam pipeline, and training on it with only its index in memory (docs/scaling.md).

- ``corpus.clips``, ``corpus.disk_mb``: the large corpus (``--corpus_clips``, default
  100,000 sentences of 2-4 glosses) and its size on disk;
- ``corpus.prepare_clips_per_s``: clips the Beam pipeline (DirectRunner, ``--corpus_workers``
  processes) generated, checked and wrote per second;
- ``corpus.peak_rss_mb_small``, ``corpus.peak_rss_mb_large``: the peak resident memory of the
  training command (the process and any children, sampled every 0.1 s) training
  ``--corpus_steps`` stage-2 steps of the demo model on a 2,000-clip corpus of the same
  generator, and on the large one (validation on each corpus's whole val split at the end);
- ``corpus.start_s``: from the launch of that command to the end of its first train step
  (the log line of the train step's first compile) on the large corpus;
- ``corpus.input_frames_per_s_per_core``: the training batches alone (``TrainBatches`` as
  stage 2 builds them, with augmentation and normalisation) read from the large corpus:
  valid frames per second of this process's CPU time; divide an accelerator's train-step
  frames per second by it for the cores it needs.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import CONFIGS, progress

SMALL_CLIPS = 2000
TRAIN_SETTINGS = (  # the demo model, stage 2 only, one validation at the end
    "--config.run_stages=('stage2',)", "--config.data.buckets=(128,192,256,384)",
    "--config.data.max_labels=6", "--config.stages.stage2.batch_size=32",
    "--config.evaluate_test=False", "--config.compile_cache_dir=",
)  # fmt: skip
FIRST_STEP = re.compile(r"stage2 train step compiled in")


def prepare(clips: int, folder: Path, workers: int) -> float:
    """Writes a synthetic corpus of ``clips`` with the Beam pipeline; returns its seconds."""
    shutil.rmtree(folder, ignore_errors=True)
    command = [
        sys.executable, "-m", "whispersign_jax.data.corpus.beam", "--source=synthetic",
        f"--clips={clips}", f"--output_dir={folder}", f"--direct_num_workers={workers}",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def disk_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 2**20


def tree_rss_mb(process) -> float:
    """Resident memory of ``process`` and its children, in MiB."""
    import psutil

    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a child that just ended
            total += member.memory_info().rss
    return total / 2**20


def train(corpus: Path, workdir: Path, steps: int) -> tuple[float, float]:
    """(peak RSS in MiB, seconds from launch to the end of the first train step) of the
    training command on ``corpus``."""
    import psutil

    shutil.rmtree(workdir, ignore_errors=True)
    command = [
        sys.executable, "-m", "whispersign_jax.main", f"--config={CONFIGS / 'demo.py'}",
        f"--workdir={workdir}", "--config.data.source=corpus", f"--config.data.dir={corpus}",
        f"--config.stages.stage2.max_steps={steps}", f"--config.eval_every_steps={steps}",
        *TRAIN_SETTINGS,
    ]  # fmt: skip
    start = time.perf_counter()
    child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    first_step = []
    tail: list[str] = []

    def watch_log() -> None:
        for line in child.stderr:
            tail[:] = [*tail[-20:], line]
            if not first_step and FIRST_STEP.search(line):
                first_step.append(time.perf_counter() - start)

    reader = threading.Thread(target=watch_log, daemon=True)
    reader.start()
    process, peak = psutil.Process(child.pid), 0.0
    while child.poll() is None:
        try:
            peak = max(peak, tree_rss_mb(process))
        except psutil.Error:
            break
        time.sleep(0.1)
    reader.join()
    if child.returncode or not first_step:
        raise RuntimeError(f"training on {corpus} failed:\n{''.join(tail)}")
    return peak, first_step[0]


def input_frames_per_core(corpus: Path, batch: int = 32, batches: int = 200) -> float:
    """Valid frames per CPU-second of ``TrainBatches`` over the corpus's train split."""
    from benchmarks.common import shipped_config
    from whispersign_jax.data.corpus.reader import Corpus
    from whispersign_jax.training.plan import train_batches

    config = shipped_config("demo")
    config.data.buckets, config.data.max_labels = (128, 192, 256, 384), 6
    config.stages.stage2.batch_size = batch
    opened = Corpus(corpus)
    preprocessor = opened.preprocessor(config.data.normalize_hands, config.data.standardize)
    built = train_batches(config, "stage2", opened.split("train"), preprocessor)
    start, frames = time.process_time(), 0
    for step in range(batches):
        frames += int(built[step]["frame_mask"].sum())
    return frames / (time.process_time() - start)


def benchmark_corpus(clips: int, steps: int, workers: int, folder: Path) -> dict[str, float]:
    """The ``corpus.*`` keys; the corpora and workdirs go under ``folder``."""
    small, large = folder / "small", folder / "large"
    progress(f"corpus: writing {SMALL_CLIPS} clips with Beam")
    prepare(SMALL_CLIPS, small, workers)
    progress(f"corpus: writing {clips} clips with Beam ({workers} workers)")
    seconds = prepare(clips, large, workers)
    results = {
        "corpus.clips": clips,
        "corpus.disk_mb": round(disk_mb(large), 1),
        "corpus.prepare_clips_per_s": round(clips / seconds, 1),
    }
    progress(f"corpus: {results}; training {steps} steps on the small corpus")
    results["corpus.peak_rss_mb_small"] = round(train(small, folder / "run-small", steps)[0], 1)
    progress("corpus: training on the large corpus")
    peak, start = train(large, folder / "run-large", steps)
    results["corpus.peak_rss_mb_large"], results["corpus.start_s"] = round(peak, 1), round(start, 1)
    progress("corpus: the input pipeline alone")
    results["corpus.input_frames_per_s_per_core"] = round(input_frames_per_core(large), 1)
    return results
