r"""Writes a corpus with an Apache Beam pipeline: the same corpus as one process writes
(``convert``, ``whispersign-prepare --layout corpus``), on many workers.

    python -m whispersign_jax.data.corpus.beam --source=synthetic --clips=100000 \
        --output_dir=data/corpus [--direct_num_workers=0]
    python -m whispersign_jax.data.corpus.beam --source=processed --processed=data/processed \
        --output_dir=data/corpus
    python -m whispersign_jax.data.corpus.beam --source=video --data_dir=clips \
        --label_csv=clips/labels.csv --output_dir=data/corpus [--joint_set=hands]
    python -m whispersign_jax.data.corpus.beam --source=kaggle --data_dir=vsl \
        --output_dir=data/corpus

The launcher lists the jobs (``jobs.ClipJob``: no keypoints) and assigns splits from them;
the pipeline reads the jobs, spreads them over the workers, makes and checks each clip (a bad
one goes to failures.csv with its reason, the pipeline goes on), writes shards per bundle, and
one last step writes the index, the label map and ``corpus.json`` (``writer.finalize``) and
``failures.csv``. Runs on the DirectRunner by default (``--direct_running_mode`` with
``--direct_num_workers`` processes, 0: one per CPU); any other Beam pipeline option
(``--runner=DataflowRunner --project=...``) is passed to Beam. Every worker must write to
--output_dir (docs/scaling.md, "Preparing a corpus with Beam"). Counts are Beam metrics.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

import apache_beam as beam
from absl import flags
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue
from etils import epath

from whispersign_jax import cli
from whispersign_jax import keypoints as kp
from whispersign_jax.cli.flag_names import MEDIAPIPE_MODELS, RENAMED
from whispersign_jax.data.contract import SPLIT_FRACTIONS, SPLIT_SEED, SPLITS
from whispersign_jax.data.corpus.jobs import (
    SYNTHETIC_JOINT_SET,
    ClipJob,
    ClipMaker,
    processed_jobs,
    produce,
    synthetic_config,
    synthetic_counts,
    synthetic_jobs,
    video_jobs,
)
from whispersign_jax.data.corpus.records import decode_clip, encode_clip
from whispersign_jax.data.corpus.writer import (
    CLIPS_PER_SHARD,
    SUMS_KEYS,
    ClipRow,
    ShardWriter,
    add_to_sums,
    existing_corpus,
    finalize,
    new_sums,
)
from whispersign_jax.data.normalize import FeatureSums
from whispersign_jax.data.prepare.cli import fractions
from whispersign_jax.data.prepare.formats import FORMATS, OPTIONS, VIDEO_OPTIONS
from whispersign_jax.data.prepare.runner import FAILURES_FILE, describe_error, write_failures
from whispersign_jax.data.prepare.video_csv import extraction_settings
from whispersign_jax.data.processed import read_joint_set
from whispersign_jax.errors import one_line, one_line_errors
from whispersign_jax.storage import is_remote

NAMESPACE = "whispersign_corpus"  # of the metrics
FAILURES, SUMS = "failures", "sums"  # tagged outputs
QUIET_WORKERS = "--default_sdk_harness_log_level=WARNING"  # unless another level is given


class MakeClips(beam.DoFn):
    """A job (JSON) -> ``(split, record)``, the checked clip as safetensors bytes; a job that
    fails goes to the ``failures`` output as ``(origin, reason)``."""

    def __init__(self, maker: ClipMaker):
        self.maker = maker
        self.failed = Metrics.counter(NAMESPACE, "failures")

    def process(self, text: str):
        job = ClipJob.from_json(text)
        try:
            clip = produce(self.maker, job)
        except Exception as error:  # a bad input never stops the pipeline
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(FAILURES, (job.origin, describe_error(error)))
            return
        yield job.split, encode_clip(clip)


class WriteShards(beam.DoFn):
    """``(split, record)`` -> ``(split, ClipRow fields)``. Each bundle writes its own shards
    (a prefix of its own) and, at its end, emits the feature sums of its train clips."""

    def __init__(self, root: str, clips_per_shard: int):
        self.root, self.clips_per_shard = root, clips_per_shard
        self.written = {}

    def start_bundle(self):
        self.prefix = f"beam-{secrets.token_hex(6)}"
        self.shards: dict[str, ShardWriter] = {}
        self.sums, self.train_clips = new_sums(), 0

    def process(self, element):
        split, record = element
        clip = decode_clip(record)
        if split not in self.shards:
            folder = epath.Path(self.root) / split
            self.shards[split] = ShardWriter(folder, self.prefix, self.clips_per_shard)
        row = self.shards[split].write(clip)
        if split == "train":
            add_to_sums(self.sums, clip.keypoints)
            self.train_clips += 1
        if split not in self.written:
            self.written[split] = Metrics.counter(NAMESPACE, f"clips_{split}")
        self.written[split].inc()
        yield split, dataclasses.astuple(row)

    def finish_bundle(self):
        for shard in self.shards.values():
            shard.close()
        if self.train_clips:
            sums = {SUMS_KEYS[key]: value.to_dict() for key, value in self.sums.items()}
            window = GlobalWindow()
            yield beam.pvalue.TaggedOutput(
                SUMS, WindowedValue(sums, window.max_timestamp(), [window])
            )


class AddSums(beam.CombineFn):
    """Merges feature sums; accumulators are plain dicts (``FeatureSums.to_dict``)."""

    def create_accumulator(self):
        return {name: FeatureSums().to_dict() for name in SUMS_KEYS.values()}

    def add_input(self, accumulator, sums):
        return self.merge_accumulators([accumulator, sums])

    def merge_accumulators(self, accumulators):
        accumulators = list(accumulators)
        merged = {}
        for name in SUMS_KEYS.values():
            total = FeatureSums()
            for accumulator in accumulators:
                total = total.merge(FeatureSums.from_dict(accumulator[name]))
            merged[name] = total.to_dict()
        return merged

    def extract_output(self, accumulator):
        return accumulator


def finish(_, rows, sums, failures, root: str, joint_set: str) -> None:
    """The last step: ``failures.csv``, then the index, label map and ``corpus.json``."""
    write_failures(sorted(failures), root)
    by_split: dict[str, list[ClipRow]] = {}
    for split, fields in rows:
        origin, recording, glosses, *rest = fields
        by_split.setdefault(split, []).append(ClipRow(origin, recording, tuple(glosses), *rest))
    if by_split:
        feature_sums = {key: FeatureSums.from_dict(sums[name]) for key, name in SUMS_KEYS.items()}
        finalize(root, by_split, feature_sums, joint_set)


def build_pipeline(
    pipeline: beam.Pipeline,
    jobs_file: str,
    launch_failures: Sequence[tuple[str, str]],
    maker: ClipMaker,
    root: str,
    clips_per_shard: int,
) -> None:
    """Adds the corpus-writing steps to ``pipeline``; ``jobs_file`` holds one job per line."""
    made = (
        pipeline
        | "ReadJobs" >> beam.io.ReadFromText(jobs_file)
        | "Spread" >> beam.Reshuffle()
        | "MakeClips" >> beam.ParDo(MakeClips(maker)).with_outputs(FAILURES, main="clips")
    )
    written = made.clips | "WriteShards" >> beam.ParDo(
        WriteShards(root, clips_per_shard)
    ).with_outputs(SUMS, main="rows")
    listed = pipeline | "ListingFailures" >> beam.Create(list(launch_failures), reshuffle=False)
    side = beam.pvalue.AsSingleton
    _ = (
        pipeline
        | "Start" >> beam.Create([None], reshuffle=False)
        | "Finalize"
        >> beam.Map(
            finish,
            rows=side(written.rows | "AllRows" >> beam.combiners.ToList()),
            sums=side(written[SUMS] | "AllSums" >> beam.CombineGlobally(AddSums())),
            failures=side((made[FAILURES], listed) | beam.Flatten() | beam.combiners.ToList()),
            root=root,
            joint_set=maker.joint_set,
        )
    )


def run_pipeline(
    jobs: Sequence[ClipJob],
    maker: ClipMaker,
    output_dir: str | Path,
    *,
    launch_failures: Sequence[tuple[str, str]] = (),
    clips_per_shard: int = CLIPS_PER_SHARD,
    overwrite: bool = False,
    beam_args: Sequence[str] = (),
) -> dict[str, int]:
    """Writes the corpus of ``jobs`` at ``output_dir`` with Beam (``beam_args``: pipeline
    options); returns the metrics' counts (``clips_train`` ..., ``failures``)."""
    root = epath.Path(output_dir if is_remote(output_dir) else Path(output_dir).absolute())
    if existing_corpus(root) and not overwrite:
        raise FileExistsError(
            f"{root} already holds a corpus (corpus.json); choose an empty folder or pass "
            "--overwrite to replace it."
        )
    root.mkdir(parents=True, exist_ok=True)
    jobs_file = root / f".jobs-{secrets.token_hex(4)}.jsonl"
    jobs_file.write_text("".join(job.to_json() + "\n" for job in jobs), encoding="utf-8")
    try:
        pipeline = beam.Pipeline(options=PipelineOptions(list(beam_args)))
        build_pipeline(pipeline, str(jobs_file), launch_failures, maker, str(root), clips_per_shard)
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        jobs_file.unlink(missing_ok=True)
    counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    counts = {"failures": 0}
    for counter in counters:
        name = counter.key.metric.name
        counts[name] = counts.get(name, 0) + (counter.committed or 0)
    counts["failures"] += len(launch_failures)
    return counts


# The command.
VIDEO_FLAGS = ("target_fps", "split_fractions", "seed", "mirrored", "backend", "hand_model",
               "pose_model", "face_model")  # fmt: skip
SOURCE_FLAGS = {
    "synthetic": ("clips", "synthetic_seed"),
    "processed": ("processed",),
    "video": ("data_dir", "label_csv", *VIDEO_FLAGS),
    "kaggle": ("data_dir", *VIDEO_FLAGS),
}  # fmt: skip


def define_flags(values: flags.FlagValues) -> None:
    """The command's own flags; Beam's other pipeline options pass through."""
    define = functools.partial(_define, values)
    define(flags.DEFINE_enum, "source", None, list(SOURCE_FLAGS), "What to prepare.",
           required=True)  # fmt: skip
    define(flags.DEFINE_string, "output_dir", None, "Where the corpus goes.", required=True)
    define(flags.DEFINE_integer, "clips", None, "synthetic: clips across the splits.")
    define(flags.DEFINE_integer, "synthetic_seed", 0, "synthetic: the generator's seed.")
    define(flags.DEFINE_string, "processed", None, "processed: the processed folder.")
    define(flags.DEFINE_string, "data_dir", None, "video, kaggle: the folder of videos.")
    define(flags.DEFINE_string, "label_csv", None, f"video: {OPTIONS['label_csv']}.")
    joint_sets = "video, kaggle: default hands; processed: the folder's; synthetic: hands"
    define(flags.DEFINE_enum, "joint_set", None, list(kp.JOINT_SETS), f"Joint set ({joint_sets}).")
    define(flags.DEFINE_float, "target_fps", float(kp.FPS), "video, kaggle: output frame rate.")
    define(flags.DEFINE_string, "split_fractions", ",".join(map(str, SPLIT_FRACTIONS)),
           "video, kaggle: train,val,test.")  # fmt: skip
    define(
        flags.DEFINE_integer, "seed", SPLIT_SEED, "video, kaggle: seed of the split by recording."
    )
    define(flags.DEFINE_bool, "mirrored", None, f"video, kaggle: {OPTIONS['mirrored']}.")
    define(flags.DEFINE_string, "backend", None, f"video, kaggle: {OPTIONS['backend']}.")
    for old in MEDIAPIPE_MODELS:
        define(flags.DEFINE_string, RENAMED[old], None, f"video, kaggle: {OPTIONS[old]}.")
    define(flags.DEFINE_integer, "clips_per_shard", CLIPS_PER_SHARD, "Clips per shard.",
           lower_bound=1)  # fmt: skip
    define(flags.DEFINE_bool, "overwrite", False, "Replace a corpus already in --output_dir.")
    define(flags.DEFINE_string, "runner", "DirectRunner", "The Beam runner.")
    define(flags.DEFINE_integer, "direct_num_workers", 0, "DirectRunner workers; 0: one per CPU.")
    modes = ["in_memory", "multi_threading", "multi_processing"]
    define(flags.DEFINE_enum, "direct_running_mode", modes[-1], modes, "DirectRunner workers.")


def _define(values: flags.FlagValues, define, name, default, *args, **kwargs) -> None:
    define(name, default, *args, flag_values=values, **kwargs)


def parse_args(argv: Sequence[str] | None = None) -> tuple[flags.FlagValues, list[str]]:
    """(the command's flags, the other arguments: Beam pipeline options)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    values = flags.FlagValues()
    define_flags(values)
    if cli.asks_for_help(["", *argv]):
        listing = values.get_help(include_special_flags=False).splitlines()
        print("\n".join([__doc__.strip(), "", "flags:", *[x for x in listing if x[:1] == " "]]))
        raise SystemExit(0)
    try:
        rest = values(["", *argv], known_only=True)[1:]
    except flags.Error as error:
        cli.usage_error(one_line(error))
    others = {name for names in SOURCE_FLAGS.values() for name in names}
    others -= set(SOURCE_FLAGS[values.source])
    given = [f"--{name}" for name in sorted(others) if values[name].present]
    if given:
        cli.usage_error(f"{', '.join(given)} does not apply to --source {values.source}")
    direct = ("runner", "direct_num_workers", "direct_running_mode")
    quiet = [] if any("sdk_harness_log_level" in arg for arg in rest) else [QUIET_WORKERS]
    return values, [*(f"--{name}={values[name].value}" for name in direct), *quiet, *rest]


def launch(args: flags.FlagValues) -> tuple[list[ClipJob], list[tuple[str, str]], ClipMaker]:
    """(jobs, entries skipped while listing, the maker) of ``--source``."""
    if args.source == "synthetic":
        if args.clips is None or args.clips < 1:
            cli.usage_error("--source synthetic needs --clips N (N >= 1)")
        if args.joint_set not in (None, SYNTHETIC_JOINT_SET):
            raise ValueError(
                f"--source synthetic makes {SYNTHETIC_JOINT_SET} keypoints only; leave "
                "--joint_set out"
            )
        config = synthetic_config(args.clips, args.synthetic_seed)
        jobs = synthetic_jobs(config, synthetic_counts(config, args.clips))
        return jobs, [], ClipMaker(SYNTHETIC_JOINT_SET, synthetic=config)
    if args.source == "processed":
        if not args.processed or not Path(args.processed).is_dir():
            cli.usage_error(f"--source processed needs --processed DIR (got {args.processed!r})")
        joint_set = read_joint_set(args.processed)
        if args.joint_set not in (None, joint_set):
            raise ValueError(f"--joint_set {args.joint_set}: {args.processed} holds {joint_set}")
        root = str(Path(args.processed).absolute())
        return processed_jobs(root), [], ClipMaker(joint_set, processed_root=root)
    if not args.data_dir or (args.source == "video" and not args.label_csv):
        needs = "--data_dir DIR" + (" and --label_csv CSV" if args.source == "video" else "")
        cli.usage_error(f"--source {args.source} needs {needs}")
    taken = [option for option in VIDEO_OPTIONS if option != "workers"]  # the runner's extract
    options = {option: args[RENAMED.get(option, option)].value for option in taken}
    if args.source == "video":
        options["label_csv"] = args.label_csv
    videos, result, extraction = FORMATS[args.source].list_videos(
        args.data_dir, args.joint_set or kp.DEFAULT_JOINT_SET, target_fps=args.target_fps,
        **options,
    )  # fmt: skip
    target_fps, tracker, _ = extraction_settings(**extraction)
    jobs, unreadable = video_jobs(videos, fractions(args.split_fractions), args.seed)
    maker = ClipMaker(tracker.keypoints, target_fps=target_fps, tracker=tracker)
    return jobs, [*result.failures, *unreadable], maker


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args, beam_args = parse_args(argv)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)  # its workers' chatter
    try:
        jobs, launch_failures, maker = launch(args)
        print(f"{args.source}: {len(jobs)} clips to write, {len(launch_failures)} skipped")
        counts = run_pipeline(
            jobs, maker, args.output_dir, launch_failures=launch_failures,
            clips_per_shard=args.clips_per_shard, overwrite=args.overwrite, beam_args=beam_args,
        )  # fmt: skip
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failures_file = Path(args.output_dir) / FAILURES_FILE
    written = {split: counts.get(f"clips_{split}", 0) for split in SPLITS}
    if not sum(written.values()):
        print(f"error: no usable clip; see {failures_file}", file=sys.stderr)
        return 1
    sizes = ", ".join(f"{split} {count}" for split, count in written.items())
    print(
        f"wrote {sizes} clips ({maker.joint_set} keypoints) to {args.output_dir}; "
        f"{counts['failures']} skipped, listed in {failures_file}"
    )
    return 0


if __name__ == "__main__":  # run the module's own copy: Beam pickles its DoFns by module name
    from whispersign_jax.data.corpus import beam as module

    sys.exit(module.main())
