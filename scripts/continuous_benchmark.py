"""The continuous-signing benchmark: sentences joined from real isolated clips, recognised
offline by three decoders and as a live stream.

    python scripts/continuous_benchmark.py --data_dir=data/traduttore \
        --output_dir=runs/continuous [--config=configs/small_data.py] [--json]

``--data_dir`` is a processed folder of isolated clips (one gloss each, e.g. MP_Data prepared
with ``scripts/prepare_vsl_data.py``). Each step is skipped when its output exists, so a
rerun goes on where the last one stopped:

1. ``<output_dir>/data``: the processed layout, with gloss spans. train: the isolated train
   clips and ``--sentences`` sentences of them; val and test: sentences of their own
   split's clips only, so no test clip reaches training (``data/sentences.py``: 2-6 signs
   by default, 0.1-0.3 s transitions; ``--skip_glosses`` never appear in a sentence;
   ``--train_pause_s`` puts up to that many seconds without hands before and after each
   training sentence, as a live stream has around signing).
2. ``<output_dir>/run``: training with ``--config`` (``--config.x=y`` overrides it).
3. For the best checkpoint of stage 2 and of stage 3: on the test sentences, the gloss error
   rate (``wer``) and exact sentence accuracy of CTC greedy, attention rescoring and joint
   beam; the error rate of the default decoder on the isolated test clips the sentences are
   made of; the default decoder's errors on the sentences split against their own clips
   recognised alone (``context``: errors of the clips alone, signs wrong only in their
   sentence, signs right only there, insertions); and the sentences streamed frame by
   frame at 60 FPS through the sliding-window recogniser (``--window_s``, ``--overlap``,
   ``--lookahead_s``, ``--dedupe_s``): its WER, the share of sentences where it gives the
   offline glosses, and each gloss's emission delay (seconds from the last frame of its sign
   to the frame after which the stream returned it, the sentence between 2 s without hands
   on each side as in a running stream; the window's compute time is not included,
   ``window_ms_p50`` says what it was; ``--skip_glosses`` in the output are dropped: an
   idle class says nobody signs).

Prints a table, and with ``--json`` one JSON object on the last line.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from absl import app, flags
from ml_collections import config_flags

from whispersign_jax.cli import strict_json
from whispersign_jax.data import processed
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.sentences import ORIGIN_SEPARATOR, SentencePlan, draw_sentences
from whispersign_jax.data.validation import valid_pairs
from whispersign_jax.decoding.options import DecodeOptions
from whispersign_jax.inference.streaming import DEFAULT_DEDUPE_S
from whispersign_jax.keypoints import FPS
from whispersign_jax.training.metrics import NONE, align
from whispersign_jax.vocab import LABEL_MAP_FILE

DECODERS = ("ctc_greedy", "attention_rescoring", "joint_beam")
PAUSE_S = 2.0  # hand-less seconds streamed before and after each sentence
# Streaming windows: a window sees about a sign's length (0.67 s on traduttore) on both
# sides of the hop-long stretch it owns (0.78 s before, 0.65 s after a 0.37 s hop), which
# met both streaming goals on two trained runs (docs/benchmarks.md, "Continuous signing").
WINDOW_S, OVERLAP, LOOKAHEAD_S = 1.8, 0.8, 0.65
CONFIG = str(Path(__file__).resolve().parent.parent / "configs" / "small_data.py")

FLAGS = flags.FLAGS


def isolated_clips(data_dir: str | Path):
    """``(vocabulary, {split: [SentenceClip]})`` of a processed folder of isolated clips."""
    vocabulary = processed.load_vocabulary(data_dir)
    joint_set = processed.read_joint_set(data_dir)
    splits = {}
    for split in SPLITS:
        pairs = valid_pairs(
            processed.read_candidates(data_dir, split), vocabulary, split, joint_set
        )
        splits[split] = [
            SentenceClip(sample.keypoints, tuple(vocabulary.names(sample.labels)), origin)
            for origin, sample in pairs
        ]
        if any(len(clip.glosses) != 1 for clip in splits[split]):
            raise ValueError(
                f"{data_dir}/{split}: the benchmark joins isolated clips, one gloss each."
            )
    return vocabulary, joint_set, splits


@dataclasses.dataclass(frozen=True)
class SentenceClip:
    """An isolated clip as the writer and ``draw_sentences`` take it."""

    keypoints: np.ndarray  # (T, J, 7)
    glosses: tuple[str, ...]
    origin: str
    recording: str = ""
    spans: np.ndarray | None = None


def make_sentence_data(
    data_dir: str | Path,
    output: Path,
    counts: dict[str, int],
    skip: set[str],
    seed: int,
    plan: SentencePlan,
    train_pause_s: float = 0.0,
) -> dict[str, int]:
    """Writes the processed folder of step 1; returns its clip counts per split. Training
    sentences have pauses of up to ``train_pause_s`` at their ends, val and test ``plan``'s."""
    _, joint_set, splits = isolated_clips(data_dir)
    written = {}
    for offset, split in enumerate(SPLITS):
        clips = [c for c in splits[split] if c.glosses[0] not in skip]
        split_plan = plan
        if split == "train" and train_pause_s:
            split_plan = dataclasses.replace(plan, max_pause_s=train_pause_s)
        sentences = draw_sentences(clips, counts[split], split_plan, seed + offset, split)
        isolated = [dataclasses.replace(c, recording=c.origin) for c in splits[split]]
        written[split] = [*isolated, *sentences] if split == "train" else sentences
    processed.write_processed(written, output, keypoints=joint_set)
    return {split: len(clips) for split, clips in written.items()}


def sentence_data(
    data_dir, data: Path, counts, skip, seed, plan, train_pause_s: float = 0.0
) -> dict[str, int] | None:
    """Step 1, unless ``data`` holds its output (the label map is written last)."""
    if (data / LABEL_MAP_FILE).exists():
        return None
    written = make_sentence_data(data_dir, data, counts, skip, seed, plan, train_pause_s)
    print(f"joined sentences into {data}: {written}")
    return written


def sentence_samples(root: Path, split: str):
    """The sentences of ``split``: its timed samples, whose spans give each sign's end."""
    return [sample for sample, _ in sentences_with_clips(root, split)]


def sentences_with_clips(root: Path, split: str) -> list[tuple]:
    """``(sample, origins)`` of each sentence of ``split``: ``origins`` are the isolated
    clips it joins, in signing order (the manifest's origin column)."""
    vocabulary = processed.load_vocabulary(root)
    pairs = valid_pairs(processed.read_candidates(root, split), vocabulary, split)
    with open(Path(root) / split / processed.MANIFEST, newline="", encoding="utf-8") as f:
        origins = {row["sample"]: row["origin"] for row in csv.DictReader(f)}
    return [
        (sample, tuple(origins[Path(path).name].split(ORIGIN_SEPARATOR)))
        for path, sample in pairs
        if sample.timed
    ]


def matched_signs(reference: list[int], hypothesis: list[int]) -> list[tuple[int, int]]:
    """``(reference position, hypothesis position)`` of each correctly recognised sign in
    the Levenshtein alignment (``metrics.align``)."""
    i = j = 0
    matches = []
    for ref, hyp in align(reference, hypothesis):
        if ref != NONE and hyp != NONE:
            if ref == hyp:
                matches.append((i, j))
            i, j = i + 1, j + 1
        elif ref == NONE:
            j += 1
        else:
            i += 1
    return matches


def error_rate(references: list[list[int]], hypotheses: list[list[int]]) -> float:
    """Edits over reference glosses, over all pairs."""
    errors = sum(
        sum(1 for ref, hyp in align(r, h) if ref != hyp)
        for r, h in zip(references, hypotheses, strict=True)
    )
    return errors / max(1, sum(len(r) for r in references))


def context_errors(
    references: list[list[int]],
    hypotheses: list[list[int]],
    clips: list[tuple[str, ...]],
    right_alone: dict[str, bool],
) -> dict[str, int]:
    """Each sentence's signs against their own clips recognised alone (``right_alone``:
    origin -> whether the clip alone gave its gloss; ``clips``: each sentence's origins).
    ``sentence_errors = alone_errors + context_errors - recovered + insertions``:
    ``alone_errors`` counts the signs whose clip is wrong alone (so ``alone_errors / signs``
    is the isolated error rate of the same clips, weighted as the sentences use them),
    ``context_errors`` the signs wrong only in their sentence, ``recovered`` the signs right
    only there; substitutions and deletions are a sign's errors, insertions the sentence's."""
    counts = dict.fromkeys(
        ("signs", "sentence_errors", "alone_errors", "context_errors", "recovered", "insertions"),
        0,
    )
    for reference, hypothesis, origins in zip(references, hypotheses, clips, strict=True):
        if len(origins) != len(reference):
            raise ValueError(f"{len(origins)} clips for a sentence of {len(reference)} signs.")
        matched = {i for i, _ in matched_signs(reference, hypothesis)}
        insertions = sum(1 for ref, _ in align(reference, hypothesis) if ref == NONE)
        for position, origin in enumerate(origins):
            alone, in_sentence = right_alone[origin], position in matched
            counts["alone_errors"] += not alone
            counts["context_errors"] += alone and not in_sentence
            counts["recovered"] += in_sentence and not alone
        counts["signs"] += len(reference)
        counts["insertions"] += insertions
        counts["sentence_errors"] += len(reference) - len(matched) + insertions
    return counts


def recognized(recognizer, keypoints: np.ndarray, idle_ids=()) -> list[int]:
    """The gloss ids ``recognizer`` gives a whole clip, without those of ``idle_ids``."""
    return [i for i in recognizer.recognize(keypoints).ids if i not in idle_ids]


def sentence_context(recognizer, sentences, clips: dict, idle_ids=()) -> dict[str, int]:
    """``context_errors`` of ``recognizer``: each of ``sentences`` (``(sample, origins)``
    pairs, ``sentences_with_clips``) recognised whole, and each clip it joins alone
    (``clips``: file name of an isolated clip -> its sample)."""
    right_alone = {}
    for name in sorted({Path(o).name for _, origins in sentences for o in origins}):
        clip = clips[name]
        right_alone[name] = recognized(recognizer, clip.keypoints, idle_ids) == clip.labels.tolist()
    return context_errors(
        [sample.labels.tolist() for sample, _ in sentences],
        [recognized(recognizer, sample.keypoints, idle_ids) for sample, _ in sentences],
        [tuple(Path(o).name for o in origins) for _, origins in sentences],
        right_alone,
    )


class TimedRecognizer:
    """A recogniser that records how long each window took (milliseconds)."""

    def __init__(self, recognizer):
        self.recognizer, self.milliseconds = recognizer, []

    def recognize(self, clip):
        start = time.perf_counter()
        result = self.recognizer.recognize(clip)
        self.milliseconds.append((time.perf_counter() - start) * 1e3)
        return result


def stream_sentence(recognizer, keypoints: np.ndarray, stream_settings: dict):
    """``(gloss ids, sentence frame after which each was returned)`` of one sentence fed
    frame by frame, with ``PAUSE_S`` without hands before and after it, as in a stream that
    was running before the signer began and goes on after the last sign
    (``stream_settings``: ``StreamingRecognizer``'s keyword arguments)."""
    from whispersign_jax.inference.streaming import StreamingRecognizer

    stream = StreamingRecognizer(recognizer, **stream_settings)
    ids, emitted_at = [], []
    pause = np.zeros((round(PAUSE_S * FPS), *keypoints.shape[1:]), np.float32)  # nobody there
    for frame in np.concatenate([pause, keypoints, pause]):
        for gloss in stream.push(frame):
            ids.append(gloss.id)
            emitted_at.append(stream.frames_seen - len(pause))
    for gloss in stream.flush():
        ids.append(gloss.id)
        emitted_at.append(stream.frames_seen - len(pause))
    return ids, emitted_at


def streaming_results(recognizer, sentences, idle_ids=(), **stream_settings) -> dict:
    """Streaming against offline recognition and the references, over ``sentences``
    (``stream_settings``: ``StreamingRecognizer``'s keyword arguments). Glosses of
    ``idle_ids`` (an idle class: nobody signing) are dropped from both outputs."""
    timed = TimedRecognizer(recognizer)
    references, offline, streamed, delays = [], [], [], []
    for sample in sentences:
        reference = sample.labels.tolist()
        ids, emitted_at = stream_sentence(timed, sample.keypoints, stream_settings)
        kept = [k for k, i in enumerate(ids) if i not in idle_ids]
        ids, emitted_at = [ids[k] for k in kept], [emitted_at[k] for k in kept]
        references.append(reference)
        streamed.append(ids)
        offline.append(recognized(recognizer, sample.keypoints, idle_ids))
        for i, j in matched_signs(reference, ids):
            delays.append((emitted_at[j] - int(sample.spans[i, 1])) / FPS)
    return {
        "wer": error_rate(references, streamed),
        "offline_wer": error_rate(references, offline),
        "agreement": float(np.mean([s == o for s, o in zip(streamed, offline, strict=True)])),
        "delay_p50_s": float(np.percentile(delays, 50)) if delays else float("nan"),
        "delay_p95_s": float(np.percentile(delays, 95)) if delays else float("nan"),
        "glosses_timed": len(delays),
        "window_ms_p50": float(np.percentile(timed.milliseconds, 50))
        if timed.milliseconds
        else 0.0,
        "windows": len(timed.milliseconds),
    }


def offline_results(run, sentences, isolated, data_config) -> dict:
    """Each decoder's WER and sentence accuracy on ``sentences``, and the default decoder's
    error rate on the ``isolated`` clips, of ``run`` (a ``trained.TrainedModel``);
    ``data_config`` gives the evaluation batch size, buckets and label cap."""
    from whispersign_jax.data.clips import preprocessed
    from whispersign_jax.training.evaluator import evaluate_samples, make_eval_step

    preprocess = None if run.preprocessor.is_identity else run.preprocessor
    sentences, isolated = preprocessed(sentences, preprocess), preprocessed(isolated, preprocess)
    settings = (data_config.eval_batch_size, data_config.buckets, data_config.max_labels)
    results = {}
    for decoder in DECODERS:
        step = make_eval_step(run.model, DecodeOptions(decoder=decoder))  # compiled once
        found = evaluate_samples(step, run.variables, sentences, *settings)
        results[decoder] = {"wer": found["wer"], "sentence_accuracy": found["accuracy"]}
        if decoder == DecodeOptions().decoder:
            found = evaluate_samples(step, run.variables, isolated, *settings)
            results["isolated_error_rate"] = found["wer"]
            results["isolated_clips"] = found["samples"]
    return results


def run_benchmark(
    config,
    data_dir,
    output_dir,
    counts,
    skip,
    seed,
    stream_settings: dict,
    stages,
    plan: SentencePlan | None = None,
    offline: bool = True,
    results_file: str = "results.json",
    train_pause_s: float = 0.0,
):
    """Every step; returns the results (also written to ``<output_dir>/<results_file>``).
    ``train_s``: what this call spent training (about 0 once the run is trained);
    ``offline=False`` measures streaming only."""
    from whispersign_jax.inference.recognizer import Recognizer
    from whispersign_jax.runs import trained
    from whispersign_jax.training import train

    output = Path(output_dir)
    data, workdir = output / "data", output / "run"
    sentence_data(data_dir, data, counts, skip, seed, plan or SentencePlan(), train_pause_s)
    config.data.source, config.data.dir = "processed", str(data)
    start = time.perf_counter()
    train.train_and_evaluate(config, str(workdir))
    results = {"train_s": time.perf_counter() - start}
    vocabulary, _, isolated_splits = isolated_clips(data_dir)
    isolated = {
        Path(c.origin).name: _sample(c, vocabulary)
        for c in isolated_splits["test"]
        if c.glosses[0] not in skip
    }
    with_clips = sentences_with_clips(data, "test")
    sentences = [sample for sample, _ in with_clips]
    results["test_sentences"] = len(sentences)
    for stage in stages:
        run = trained.load_trained(workdir, stage)
        results[stage] = (
            offline_results(run, sentences, list(isolated.values()), run.config.data)
            if offline
            else {}
        )
        idle = tuple(run.vocabulary.ids([g for g in skip if g in run.vocabulary.glosses]))
        recognizer = Recognizer(run)
        results[stage]["context"] = sentence_context(recognizer, with_clips, isolated, idle)
        stream = streaming_results(recognizer, sentences, idle, **stream_settings)
        results[stage]["stream"] = {**stream_settings, **stream}
    (output / results_file).write_text(strict_json.dumps(results, indent=2) + "\n")
    return results


def _sample(clip: SentenceClip, vocabulary):
    from whispersign_jax.data.sample import untimed_sample

    return untimed_sample(clip.keypoints, np.asarray(vocabulary.ids(list(clip.glosses)), np.int64))


def table(results: dict, stages) -> str:
    rows = ["| stage | decoder | WER | sentence accuracy |", "| --- | --- | --- | --- |"]
    for stage in stages:
        for decoder in DECODERS if DECODERS[0] in results[stage] else ():
            r = results[stage][decoder]
            rows.append(f"| {stage} | {decoder} | {r['wer']:.3f} | {r['sentence_accuracy']:.3f} |")
        s = results[stage]["stream"]
        rows.append(
            f"| {stage} | streaming ({DecodeOptions().decoder}) | {s['wer']:.3f} | agreement "
            f"{s['agreement']:.3f}, delay p50 {s['delay_p50_s']:.2f} s, "
            f"p95 {s['delay_p95_s']:.2f} s |"
        )
        if "context" in results[stage]:
            c = results[stage]["context"]
            rows.append(
                f"| {stage} | {DecodeOptions().decoder}, sentences against their clips alone | "
                f"{c['sentence_errors']} errors in {c['signs']} signs = {c['alone_errors']} of "
                f"the clips alone + {c['context_errors']} in context - {c['recovered']} "
                f"recovered + {c['insertions']} inserted | |"
            )
        if "isolated_error_rate" in results[stage]:
            rows.append(
                f"| {stage} | isolated clips | {results[stage]['isolated_error_rate']:.3f} | |"
            )
    return "\n".join(rows)


def main(argv) -> int:
    del argv
    if not FLAGS.data_dir or not FLAGS.output_dir:
        print("--data_dir and --output_dir are required.", file=sys.stderr)
        return 2
    stream_settings = {
        "window_s": FLAGS.window_s, "overlap": FLAGS.overlap, "lookahead_s": FLAGS.lookahead_s,
        "dedupe_s": FLAGS.dedupe_s,
    }  # fmt: skip
    counts = dict(zip(SPLITS, (int(n) for n in FLAGS.sentences.split(",")), strict=True))
    results = run_benchmark(
        FLAGS.config, FLAGS.data_dir, FLAGS.output_dir, counts, set(FLAGS.skip_glosses),
        FLAGS.seed, stream_settings, FLAGS.stages,
        SentencePlan(FLAGS.min_signs, FLAGS.max_signs), FLAGS.offline, FLAGS.results,
        FLAGS.train_pause_s,
    )  # fmt: skip
    print(table(results, FLAGS.stages))
    if FLAGS.json:
        print(strict_json.dumps(results))
    return 0


def define_flags() -> None:
    """The command's flags (defined only when it runs, so that tests can import it)."""
    config_flags.DEFINE_config_file("config", CONFIG, "training config", lock_config=False)
    flags.DEFINE_string("data_dir", None, "processed folder of isolated clips")
    flags.DEFINE_string("output_dir", None, "where the sentences, the run and results.json go")
    flags.DEFINE_string("sentences", "1500,100,150", "sentences to join for train,val,test")
    flags.DEFINE_list("skip_glosses", ["-"], "glosses never joined into a sentence (idle classes)")
    flags.DEFINE_integer("seed", 0, "seed of the sentences")
    flags.DEFINE_integer("min_signs", 2, "fewest signs in a sentence")
    flags.DEFINE_integer("max_signs", 6, "most signs in a sentence")
    flags.DEFINE_float(
        "train_pause_s", 0.0, "training sentences: up to this many hand-less seconds at each end"
    )
    flags.DEFINE_float("window_s", WINDOW_S, "streaming: window length in seconds")
    flags.DEFINE_float("overlap", OVERLAP, "streaming: fraction of a window shared with the next")
    flags.DEFINE_float(
        "lookahead_s", LOOKAHEAD_S, "streaming: see StreamingRecognizer (None: half the overlap)"
    )
    flags.DEFINE_float(
        "dedupe_s", DEFAULT_DEDUPE_S, "streaming: one gloss from two windows this close is one"
    )
    flags.DEFINE_list("stages", ["stage2", "stage3"], "stages whose best checkpoint is measured")
    flags.DEFINE_bool("offline", True, "measure offline recognition (else streaming only)")
    flags.DEFINE_string("results", "results.json", "file under --output_dir for the results")
    flags.DEFINE_bool("json", False, "print one JSON object on the last line")


if __name__ == "__main__":
    define_flags()
    app.run(main)
