"""Training batches that join clips into short sentences (``TrainBatches(join_share=...)``)."""

import numpy as np
import pytest

from tests.data.test_batching import make_sample
from whispersign_jax.data.augment import AugmentConfig
from whispersign_jax.data.batching import TrainBatches
from whispersign_jax.data.sample import Sample
from whispersign_jax.data.sentences import SentencePlan, join_samples, transition_frames
from whispersign_jax.keypoints import CONFIDENCE, XYZ

BUCKETS = (64, 128)
SHORTEST, LONGEST = transition_frames(SentencePlan())  # 6 and 18 frames at 60 FPS


def isolated(count: int, frames: int = 20) -> list[Sample]:
    """Clip i: one gloss, i + 1, and ``frames + i % 5`` frames."""
    return [make_sample(frames + i % 5, [i + 1], seed=i) for i in range(count)]


def test_join_samples_keeps_every_clip_and_moves_its_spans():
    first, second = make_sample(10, [3], seed=1), make_sample(7, [5, 6], seed=2)
    joined = join_samples([first, second], [4])
    assert joined.keypoints.shape == (21, 42, 7)
    assert joined.labels.tolist() == [3, 5, 6]
    # make_sample's spans are [[i, i + 1]] per gloss; the second clip starts at frame 14
    assert joined.spans.tolist() == [[0, 1], [14, 15], [15, 16]]
    np.testing.assert_array_equal(joined.keypoints[:10, :, XYZ], first.keypoints[..., XYZ])
    np.testing.assert_array_equal(joined.keypoints[14:, :, XYZ], second.keypoints[..., XYZ])
    np.testing.assert_array_equal(
        joined.keypoints[14:, :, CONFIDENCE], second.keypoints[..., CONFIDENCE]
    )
    assert joined.signer == 0
    # untimed with two glosses: only a bound on where each is, so the sentence is untimed
    assert not joined.timed
    assert join_samples([first, make_sample(5, [8], seed=3)], [6]).timed  # one gloss each


def test_every_row_of_a_joined_batch_is_its_clip_and_others_with_all_their_glosses():
    samples = isolated(12)
    batches = TrainBatches(samples, 4, BUCKETS, 4, seed=3, join_share=1.0, join_signs=3)
    for step in range(6):
        batch = batches[step]
        for row, own in enumerate(batches.chosen(step)):
            parts, gaps = batches.row_clips(step, row)
            assert len(parts) == 3 and own in parts and len(gaps) == 2
            assert ((gaps >= SHORTEST) & (gaps <= LONGEST)).all()
            labels = batch["labels"][row][batch["label_mask"][row]]
            assert labels.tolist() == [int(p) + 1 for p in parts]  # clip p has gloss p + 1
            frames = sum(len(samples[p].keypoints) for p in parts) + gaps.sum()
            assert batch["frame_mask"][row].sum() == frames
            start = 0
            for part, gap in zip(parts, [*gaps, 0], strict=True):
                clip = samples[part].keypoints  # its positions, untouched, at its place
                np.testing.assert_array_equal(
                    batch["keypoints"][row, start : start + len(clip), :, XYZ], clip[..., XYZ]
                )
                start += len(clip) + gap


def test_a_share_of_batches_is_joined_whole_and_the_draw_is_a_pure_function_of_the_step():
    samples = isolated(40)
    make = lambda: TrainBatches(samples, 4, BUCKETS, 4, seed=0, join_share=0.3,
                                augmentation=AugmentConfig())  # fmt: skip
    batches, again = make(), make()
    joined = []
    for step in range(200):
        rows = [len(batches.row_clips(step, row)[0]) for row in range(4)]
        assert len(set(rows)) == 1  # a batch joins every row or none
        joined.append(rows[0] == 2)
    assert 0.2 < np.mean(joined) < 0.4  # 0.3 of 200 draws
    for step in (0, 7, 33):
        one, two = batches[step], again[step]
        for name in one:
            np.testing.assert_array_equal(one[name], two[name])
        # a process that builds only some rows gets the same rows and the same padded length
        part = batches.rows(step, [1, 3])
        assert part["keypoints"].shape == one["keypoints"].shape
        np.testing.assert_array_equal(part["keypoints"][[1, 3]], one["keypoints"][[1, 3]])


def test_untimed_sentences_that_outgrow_the_largest_bucket_or_max_labels_stay_alone():
    # two glosses per clip, untimed: a sentence of two is untimed too, so it is never cropped
    samples = [make_sample(28 + i % 3, [i + 1, i + 21], seed=i) for i in range(10)]
    batches = TrainBatches(samples, 2, (32, 72), 4, seed=1, join_share=1.0)
    sizes = set()
    for step in range(40):
        batch = batches[step]
        for row, own in enumerate(batches.chosen(step)):
            parts, gaps = batches.row_clips(step, row)
            frames = batch["frame_mask"][row].sum()
            expected = sum(len(samples[p].keypoints) for p in parts) + gaps.sum()
            assert frames == expected <= 72  # 62-84 frames joined: the longer ones stay alone
            if len(parts) == 1:
                assert parts.tolist() == [own]
            sizes.add(len(parts))
    assert sizes == {1, 2}
    crowded = [make_sample(20, [1, 2, 3], seed=i) for i in range(4)]  # 6 glosses > 4
    batches = TrainBatches(crowded, 2, BUCKETS, 4, seed=0, join_share=1.0)
    assert all(len(batches.row_clips(step, 0)[0]) == 1 for step in range(10))


def test_timed_sentences_longer_than_the_largest_bucket_train_on_windows_of_it():
    samples = isolated(10, frames=28)  # one gloss each: the sentence's timing is known
    batches = TrainBatches(samples, 2, (32, 72), 4, seed=1, join_share=1.0)
    cropped = 0
    for step in range(40):
        batch = batches[step]
        for row in range(2):
            parts, gaps = batches.row_clips(step, row)
            labels = batch["labels"][row][batch["label_mask"][row]].tolist()
            assert len(parts) == 2 and set(labels) <= {int(p) + 1 for p in parts}
            if sum(len(samples[p].keypoints) for p in parts) + gaps.sum() > 72:
                assert batch["frame_mask"][row].sum() == 72 and len(labels) >= 1
                cropped += 1
    assert cropped > 10


def test_planned_lengths_match_the_built_rows_with_augmentation_and_windows():
    samples = isolated(16, frames=40)
    for windows in ({}, dict(window_frames=90, hop_frames=45)):
        batches = TrainBatches(samples, 4, (64, 128, 192), 4, seed=2, join_share=0.5,
                               join_signs=3, augmentation=AugmentConfig(), **windows)  # fmt: skip
        for step in range(12):
            for row in range(4):
                sample = batches.row_sample(step, row)
                assert len(sample.keypoints) == batches._planned_frames(step, row)
                assert (sample.spans[:, 1] <= len(sample.keypoints)).all()
                if windows:  # a 90-frame window keeps the glosses mostly inside it
                    assert len(sample.keypoints) <= 90 * 1.25 + 1


@pytest.mark.parametrize(("share", "signs"), [(1.5, 2), (-0.1, 2), (0.5, 1)])
def test_bad_join_settings_are_refused_by_name(share, signs):
    name = "join_signs" if signs < 2 else "join_share"
    with pytest.raises(ValueError, match=name):
        TrainBatches(isolated(8), 2, BUCKETS, 4, seed=0, join_share=share, join_signs=signs)


def test_a_stage_config_sets_the_join_share_of_its_batches():
    from configs import default, small_data
    from whispersign_jax.data.normalize import Preprocessor
    from whispersign_jax.training import plan

    config = small_data.get_config()  # half of the batches of stages 2 and 3 join two clips
    assert [config.stages[name].join_share for name in ("stage1", "stage2", "stage3")] == [
        0.0, 0.5, 0.5,
    ]  # fmt: skip
    config.stages.stage2.join_signs = 3
    batches = plan.train_batches(config, "stage2", isolated(40), Preprocessor())
    assert (batches.join_share, batches.join_signs) == (0.5, 3)
    joined = [len(batches.row_clips(step, 0)[0]) for step in range(60)]
    assert set(joined) == {1, 3}
    stage1 = plan.train_batches(config, "stage1", isolated(40), Preprocessor())
    assert {len(stage1.row_clips(step, 0)[0]) for step in range(60)} == {1}
    assert default.get_config().stages.stage2.join_share == 0.0  # off unless asked for


def test_a_workdir_trained_before_joining_existed_resumes_as_without_it():
    from whispersign_jax.runs import workdir

    saved = {"stages": {"stage2": {"lr": 3e-4}}, "seed": 0}
    current = {"stages": {"stage2": {"lr": 3e-4, "join_share": 0.0, "join_signs": 2}}, "seed": 0}
    assert workdir.config_differences(saved, current) == []
    current["stages"]["stage2"]["join_share"] = 0.5
    assert workdir.config_differences(saved, current) == ["stages.stage2.join_share: 0.0 -> 0.5"]
