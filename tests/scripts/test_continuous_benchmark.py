"""The continuous-signing benchmark (pytest -k continuous): sentences joined from isolated
clips (data/sentences.py), the processed layout's gloss spans, and scripts/
continuous_benchmark.py end to end on a tiny synthetic set."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import ml_collections
import numpy as np
import pytest
from conftest import load_script, tiny_training_config

from whispersign_jax.data import processed, synthetic
from whispersign_jax.data.sample import untimed_sample
from whispersign_jax.data.sentences import SentencePlan, draw_sentences, join_clips
from whispersign_jax.inference.recognizer import Recognizer
from whispersign_jax.inference.streaming import WindowPlan
from whispersign_jax.keypoints import CONFIDENCE, FPS, VELOCITY, XYZ, assemble_keypoints

continuous = load_script("continuous_benchmark")


def moving_clip(frames: int, start: float, joints: int = 42) -> np.ndarray:
    """A clip whose every joint moves right by 0.01 per frame from x = ``start``."""
    xyz = np.zeros((frames, joints, 3), np.float32)
    xyz[..., 0] = start + 0.01 * np.arange(frames)[:, None]
    xyz[..., 1] = 0.5
    return assemble_keypoints(xyz, np.ones((frames, joints), np.float32))


def test_joined_clips_keep_their_frames_and_move_between_them():
    first, second = moving_clip(10, 0.1), moving_clip(8, 0.6)
    second[0, 5] = 0.0  # joint 5 is missing where the second clip starts
    second[0, 5, CONFIDENCE] = 0.0
    keypoints, spans = join_clips([first, second], [4])
    assert keypoints.shape == (22, 42, 7) and keypoints.dtype == np.float32
    np.testing.assert_array_equal(spans, [[0, 10], [14, 22]])
    np.testing.assert_array_equal(keypoints[:10, :, XYZ], first[..., XYZ])
    np.testing.assert_array_equal(keypoints[14:, :, XYZ], second[..., XYZ])
    # the transition moves in equal steps from the first clip's last frame to the next's first
    x = keypoints[9:15, 0, 0]
    np.testing.assert_allclose(np.diff(x), (0.6 - 0.19) / 5, rtol=1e-5)
    assert np.all(keypoints[10:14, 5] == 0.0)  # missing at one end: missing throughout
    assert np.all(keypoints[10:14, 4, CONFIDENCE] == 1.0)
    # velocities are those of the whole sentence: inside a clip they are the clip's own
    np.testing.assert_allclose(keypoints[1:9, :, VELOCITY], first[1:9, :, VELOCITY], rtol=1e-5)
    np.testing.assert_allclose(keypoints[12, 0, VELOCITY][0], (x[4] - x[2]) / 2 * FPS, rtol=1e-4)


def test_sentences_are_seeded_and_use_each_clip_at_most_once_per_sentence():
    clips = [
        continuous.SentenceClip(moving_clip(5 + i, 0.1), (f"g{i}",), f"clip {i}") for i in range(7)
    ]
    plan = SentencePlan(min_signs=2, max_signs=4)
    sentences = draw_sentences(clips, 30, plan, seed=3, name="test")
    again = draw_sentences(clips, 30, plan, seed=3, name="test")
    assert [s.origin for s in sentences] == [s.origin for s in again]
    for sentence in sentences:
        origins = sentence.origin.split(" + ")
        assert 2 <= len(origins) <= 4 and len(set(origins)) == len(origins)
        assert sentence.glosses == tuple(f"g{o.split()[1]}" for o in origins)
        lengths = [5 + int(o.split()[1]) for o in origins]
        np.testing.assert_array_equal(np.diff(sentence.spans, axis=1)[:, 0], lengths)
        gaps = sentence.spans[1:, 0] - sentence.spans[:-1, 1]
        assert np.all((gaps >= 6) & (gaps <= 18))  # 0.1-0.3 s at 60 FPS
    assert {len(s.glosses) for s in sentences} == {2, 3, 4}
    with pytest.raises(ValueError, match="2 clips cannot make sentences of at least 3 signs"):
        draw_sentences(clips[:2], 1, SentencePlan(min_signs=3), 0, "val")


def test_pauses_put_hand_less_frames_around_a_sentence_and_move_its_spans():
    clips = [
        continuous.SentenceClip(moving_clip(6, 0.1 * i), (f"g{i}",), f"c{i}") for i in range(3)
    ]
    plain = draw_sentences(clips, 20, SentencePlan(max_signs=3), seed=5, name="train")
    paused = draw_sentences(clips, 20, SentencePlan(max_signs=3, max_pause_s=0.5), 5, "train")
    assert [s.origin for s in plain[:1]] == [s.origin for s in paused[:1]]  # same first draw
    leads = []
    for sentence in paused:
        lead = int(sentence.spans[0, 0])
        end = int(sentence.spans[-1, 1])
        assert 0 <= lead <= 30 and 0 <= len(sentence.keypoints) - end <= 30  # 0.5 s at 60 FPS
        assert not sentence.keypoints[:lead].any() and not sentence.keypoints[end:].any()
        first = sentence.spans[0]
        assert sentence.keypoints[first[0] : first[1], :, CONFIDENCE].all()  # a sign in view
        leads.append(lead)
    assert len(set(leads)) > 5  # drawn, not fixed
    assert all(int(s.spans[0, 0]) == 0 for s in plain)
    with pytest.raises(ValueError, match="max_pause_s must be >= 0 seconds, got -1"):
        SentencePlan(max_pause_s=-1)


def test_the_processed_layout_keeps_spans_and_refuses_spans_outside_the_clip(tmp_path):
    clip = moving_clip(20, 0.1)
    timed = continuous.SentenceClip(clip, ("a", "b"), "s0", "r0", np.array([[0, 8], [12, 20]]))
    untimed = continuous.SentenceClip(clip, ("a",), "s1", "r1")
    processed.write_processed({"train": [timed, untimed]}, tmp_path / "data")
    (_, first), (_, second) = processed.read_candidates(tmp_path / "data", "train")
    assert first.timed and not second.timed
    np.testing.assert_array_equal(first.spans, [[0, 8], [12, 20]])
    np.testing.assert_array_equal(second.spans, [[0, 20]])
    late = continuous.SentenceClip(clip, ("a",), "late clip", "r2", np.array([[5, 21]]))
    with pytest.raises(ValueError, match=r"late clip: spans must satisfy 0 <= start < end <= 20"):
        processed.write_processed({"train": [late]}, tmp_path / "other")
    assert not (tmp_path / "other").exists()
    np.save(tmp_path / "data/train/spans/sample_00000.npy", np.array([[0, 8]]))
    (origin, broken), _ = processed.read_candidates(tmp_path / "data", "train")
    assert "spans must be (2, 2) whole frame numbers" in origin and broken.keypoints.size == 0


def test_matched_signs_follow_the_alignment():
    assert continuous.matched_signs([1, 2, 3], [1, 3]) == [(0, 0), (2, 1)]
    assert continuous.matched_signs([1, 2], [4, 1, 2]) == [(0, 1), (1, 2)]
    assert len(continuous.matched_signs([1, 2], [2, 1])) == 1  # one of the two, in order
    assert continuous.error_rate([[1, 2, 3], [4]], [[1, 3], [4, 4]]) == 0.5


def test_sentence_errors_split_into_errors_of_the_clips_alone_and_of_context():
    references = [[1, 2, 3], [4, 5], [6, 7]]
    hypotheses = [[1, 9, 3, 8], [5], [6, 7]]  # 2 substituted, 8 inserted; 4 deleted; right
    clips = [("a", "b", "c"), ("d", "e"), ("f", "b")]
    right_alone = {"a": True, "b": False, "c": True, "d": True, "e": True, "f": True}
    counts = continuous.context_errors(references, hypotheses, clips, right_alone)
    assert counts == {
        "signs": 7,
        "sentence_errors": 3,  # as error_rate counts them: 3 / 7
        "alone_errors": 2,  # clip b, used twice
        "context_errors": 1,  # clip d, right alone, deleted in its sentence
        "recovered": 1,  # clip b, right in the third sentence
        "insertions": 1,
    }
    assert counts["sentence_errors"] == (
        counts["alone_errors"] + counts["context_errors"] - counts["recovered"]
        + counts["insertions"]
    )  # fmt: skip
    assert continuous.error_rate(references, hypotheses) == 3 / 7
    with pytest.raises(ValueError, match="2 clips for a sentence of 3 signs"):
        continuous.context_errors([[1, 2, 3]], [[1]], [("a", "b")], right_alone)


class LookupRecognizer:
    """Gives each clip the ids stored for its exact keypoints."""

    def __init__(self, answers: dict[bytes, list[int]]):
        self.answers = answers

    def recognize(self, clip):
        return type("Recognition", (), {"ids": self.answers[clip.tobytes()]})()


def test_sentences_know_the_clips_they_join(tmp_path):
    isolated = isolated_processed(tmp_path / "isolated")
    data = tmp_path / "data"
    counts, plan = {"train": 1, "val": 1, "test": 3}, SentencePlan(min_signs=2, max_signs=3)
    continuous.sentence_data(isolated, data, counts, set(), 0, plan)
    vocabulary, _, splits = continuous.isolated_clips(isolated)
    by_origin = {c.origin: c for c in splits["test"]}
    with_clips = continuous.sentences_with_clips(data, "test")
    samples = continuous.sentence_samples(data, "test")
    assert [s.labels.tolist() for s, _ in with_clips] == [s.labels.tolist() for s in samples]
    for sample, origins in with_clips:  # each sign's own clip, in signing order
        assert len(origins) == len(sample.labels) >= 2
        for origin, (start, end), gloss in zip(origins, sample.spans, sample.labels, strict=True):
            clip = by_origin[origin]
            np.testing.assert_array_equal(sample.keypoints[start:end], clip.keypoints)
            assert vocabulary.ids(list(clip.glosses)) == [gloss]


def test_sentence_context_recognises_each_sentence_whole_and_its_clips_alone(tmp_path):
    vocabulary, _, splits = continuous.isolated_clips(isolated_processed(tmp_path / "isolated"))
    clips = {Path(c.origin).name: continuous._sample(c, vocabulary) for c in splits["test"]}
    a, b, c, d = clips
    sentences = [
        (untimed_sample(np.concatenate([clips[x].keypoints for x in pair]), labels), pair)
        for pair in ((a, b), (c, d))
        for labels in [np.concatenate([clips[x].labels for x in pair])]
    ]
    answers = {clip.keypoints.tobytes(): clip.labels.tolist() for clip in clips.values()}
    answers[clips[a].keypoints.tobytes()] = [0]  # wrong alone (the idle id is dropped)...
    one, two = (sample for sample, _ in sentences)
    answers[one.keypoints.tobytes()] = one.labels.tolist()  # ...right in its sentence
    answers[two.keypoints.tobytes()] = [*two.labels.tolist()[:1], 0]  # d deleted in context
    counts = continuous.sentence_context(LookupRecognizer(answers), sentences, clips, (0,))
    assert counts == {
        "signs": 4, "sentence_errors": 1, "alone_errors": 1, "context_errors": 1,
        "recovered": 1, "insertions": 0,
    }  # fmt: skip


def test_the_default_windows_see_about_a_sign_on_both_sides_of_their_own_stretch():
    plan = WindowPlan.from_seconds(continuous.WINDOW_S, continuous.OVERLAP, continuous.LOOKAHEAD_S)
    before = plan.window - plan.hop - plan.lookahead  # context before the owned stretch
    assert (plan.window, plan.hop, plan.lookahead, before) == (108, 22, 39, 47)
    assert min(before, plan.lookahead) >= 39  # a traduttore sign: 39 frames at 60 FPS


def test_the_benchmark_joins_sentences_of_each_split_from_that_split_only(tmp_path):
    isolated = isolated_processed(tmp_path / "isolated")
    counts, plan = {"train": 6, "val": 2, "test": 3}, SentencePlan(max_signs=3)
    data = tmp_path / "out" / "data"
    written = continuous.sentence_data(isolated, data, counts, {"g3"}, 0, plan)
    assert written == {"train": 8 + 6, "val": 2, "test": 3}  # train keeps its isolated clips
    manifests = {s: processed_manifest(data, s) for s in ("train", "val", "test")}
    for split, rows in manifests.items():  # a sentence joins clips of its own split only
        for origin in (o for row in rows for o in row.split(" + ")):
            assert f"/{split}/features/" in origin
    sentences = continuous.sentence_samples(data, "test")
    assert len(sentences) == 3 and all(s.timed and 2 <= len(s.labels) <= 3 for s in sentences)
    vocabulary = processed.load_vocabulary(data)
    assert all("g3" not in vocabulary.names(s.labels) for s in sentences)  # skipped gloss
    assert continuous.sentence_data(isolated, data, counts, set(), 0, plan) is None  # not redone
    paused = tmp_path / "paused"
    continuous.sentence_data(isolated, paused, counts, {"g3"}, 0, plan, train_pause_s=1.0)
    for split, count in (("train", 6), ("test", 3)):  # pauses in training sentences only
        timed = continuous.sentence_samples(paused, split)
        leads = [int(s.spans[0, 0]) for s in timed]
        assert len(timed) == count and (max(leads) > 0) == (split == "train")


def test_offline_and_streaming_measures_of_a_model_that_knows_its_sentences(tiny_trained_model):
    """The tiny model recognises its 12 timed synthetic sentences with a wide margin
    (conftest.tiny_trained_model), so CTC greedy gets each one exactly."""
    run, clips = tiny_trained_model
    data = ml_collections.ConfigDict({"eval_batch_size": 12, "buckets": (256,), "max_labels": 3})
    isolated = [dataclasses.replace(c, labels=c.labels[:1], spans=c.spans[:1]) for c in clips]
    results = continuous.offline_results(run, clips, isolated, data)
    assert results["ctc_greedy"] == {"wer": 0.0, "sentence_accuracy": 1.0}
    for decoder in continuous.DECODERS:
        assert 0.0 <= results[decoder]["wer"] <= 1.0
    assert results["isolated_clips"] == 12 and results["isolated_error_rate"] > 0.0
    stream = continuous.streaming_results(Recognizer(run), clips[:4], window_s=1.0, overlap=0.5)
    assert 0.0 <= stream["agreement"] <= 1.0 and stream["windows"] >= 4
    assert stream["offline_wer"] <= 1.0 and stream["wer"] >= 0.0
    if stream["glosses_timed"]:
        assert -1.0 < stream["delay_p50_s"] <= stream["delay_p95_s"] < 2.0  # 1 s windows
    every_gloss = tuple(range(1, run.vocabulary.num_glosses + 1))  # all idle: nothing is left
    idle = continuous.streaming_results(Recognizer(run), clips[:1], every_gloss, window_s=1.0)
    assert idle["wer"] == idle["offline_wer"] == 1.0 and idle["agreement"] == 1.0
    assert idle["glosses_timed"] == 0 and math.isnan(idle["delay_p50_s"])
    assert "| stage3 | joint_beam |" in continuous.table(
        {"stage3": {**results, "stream": stream}}, ["stage3"]
    )


def test_the_benchmark_from_isolated_clips_to_results_and_a_rerun_that_reuses_its_steps(tmp_path):
    """The command's whole path on a tiny stage-2 run: sentences, training, every measure,
    the results file; a rerun reuses the sentences and the trained run."""
    isolated = isolated_processed(tmp_path / "isolated")
    output = tmp_path / "out"
    counts, plan = {"train": 4, "val": 2, "test": 3}, SentencePlan(max_signs=3)
    stream = {"window_s": 1.0, "overlap": 0.5, "lookahead_s": None, "dedupe_s": 0.3}
    config = tiny_training_config()
    config.run_stages = ("stage2",)
    results = continuous.run_benchmark(
        config, isolated, output, counts, set(), 0, stream, ["stage2"], plan
    )
    assert results == json.loads((output / "results.json").read_text())
    assert results["test_sentences"] == 3
    measured = results["stage2"]
    assert set(measured) == {*continuous.DECODERS, "isolated_error_rate", "isolated_clips",
                             "context", "stream"}  # fmt: skip
    assert measured["isolated_clips"] == 4
    c = measured["context"]
    signs = sum(len(s.labels) for s in continuous.sentence_samples(output / "data", "test"))
    assert c["signs"] == signs
    assert c["sentence_errors"] == (
        c["alone_errors"] + c["context_errors"] - c["recovered"] + c["insertions"]
    )
    # the same offline recognitions, counted two ways
    assert measured["stream"]["offline_wer"] == pytest.approx(c["sentence_errors"] / signs)
    assert {k: measured["stream"][k] for k in stream} == stream
    assert "sentences against their clips alone" in continuous.table(results, ["stage2"])
    files = sorted([*(output / "data").rglob("*"), *(output / "run").rglob("*")])
    again = continuous.run_benchmark(
        config, isolated, output, counts, set(), 0, stream, [], plan, results_file="b.json"
    )
    assert sorted([*(output / "data").rglob("*"), *(output / "run").rglob("*")]) == files
    assert again["test_sentences"] == 3 and again["train_s"] < results["train_s"]  # skipped


def isolated_processed(root: Path) -> Path:
    """A processed folder of isolated synthetic clips of 4 glosses: 8 train, 4 val, 4 test."""
    config = synthetic.SyntheticConfig(
        num_glosses=4, train_signers=2, val_signers=1, test_signers=1,
        samples_per_gloss_per_signer=1,
    )  # fmt: skip
    names = synthetic.gloss_names(config)
    splits = {
        split: [
            continuous.SentenceClip(
                s.keypoints, (names[s.labels[0] - 1],), f"{split}/{i}", f"{split}/{i}"
            )
            for i, s in enumerate(synthetic.generate_split(config, split))
        ]
        for split in ("train", "val", "test")
    }
    processed.write_processed(splits, root)
    return root


def processed_manifest(root: Path, split: str) -> list[str]:
    """The origin column of a split's manifest."""
    import csv

    with open(root / split / processed.MANIFEST, newline="", encoding="utf-8") as f:
        return [row["origin"] for row in csv.DictReader(f)]
