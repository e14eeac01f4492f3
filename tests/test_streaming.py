"""Sliding-window streaming: the merge by emission time on hand-made emissions, and streaming
against offline recognition of the whole clip: on synthetic continuous signing (scripted
emissions), on a long stream of well-separated signs (a deterministic CTC model) and on
clips shorter than a window (the trained test model)."""

import numpy as np
import pytest

from whispersign_jax.decoding import DecodeOptions, Recognition, RecognizedGloss, numpy_decoders
from whispersign_jax.decoding.result import to_recognitions
from whispersign_jax.inference.streaming import StreamingRecognizer, WindowPlan
from whispersign_jax.vocab import Vocabulary


class ScriptedRecognizer:
    """Emits each scripted sign that lies wholly inside the window, as a 4-frame CTC spike
    at the sign's middle (+ ``jitter`` frames in odd windows). Frame numbers travel in
    feature 0 of joint 0, so the recogniser knows where its window is."""

    def __init__(self, signs, jitter: int = 0):
        self.signs = signs  # (gloss id, start frame, end frame) in stream frames
        self.jitter = jitter
        self.windows: list[tuple[int, int]] = []

    def recognize(self, clip: np.ndarray) -> Recognition:
        start, end = int(clip[0, 0, 0]), int(clip[-1, 0, 0]) + 1
        shift = self.jitter * (len(self.windows) % 2)
        self.windows.append((start, end))
        glosses = tuple(
            RecognizedGloss(gid, f"g{gid}", 0.9, (a + b) // 2 - 2 + shift - start,
                            (a + b) // 2 + 2 + shift - start)
            for gid, a, b in self.signs
            if start <= a and b <= end
        )  # fmt: skip
        return Recognition(glosses, 0.0, "scripted")


def stream_of(frames: int, signing_until: int | None = None) -> np.ndarray:
    """Frame numbers in feature 0 of joint 0, whose confidence says a hand is present
    (in frames before ``signing_until``, default all)."""
    clip = np.zeros((frames, 42, 7), np.float32)
    clip[:, 0, 0] = np.arange(frames)
    clip[:signing_until, 0, 6] = 1.0
    return clip


def streamed(signs, frames: int, jitter: int = 0, frame_by_frame: bool = False, **kwargs):
    recognizer = ScriptedRecognizer(signs, jitter)
    streamer = StreamingRecognizer(recognizer, **kwargs)
    if frame_by_frame:
        out = [g for frame in stream_of(frames) for g in streamer.push(frame)] + streamer.flush()
    else:
        out = streamer.run(stream_of(frames))
    return [(g.id, g.start_frame + 2) for g in out], recognizer.windows


def test_windows_without_a_hand_are_not_recognised():
    recognizer = ScriptedRecognizer([])
    StreamingRecognizer(recognizer).run(stream_of(400, signing_until=150))
    assert recognizer.windows == [(0, 180), (90, 270)]  # (180, 360), (220, 400): nobody signs


def test_default_windows_are_three_seconds_with_half_overlap():
    plan = WindowPlan.from_seconds(3.0, 0.5)
    assert (plan.window, plan.hop, plan.overlap) == (180, 90, 90)
    assert plan.boundary(1) == 135  # middle of the first overlap, [90, 180)
    _, windows = streamed([], 400)
    assert windows == [(0, 180), (90, 270), (180, 360), (220, 400)]  # the last: flush


def test_a_sign_in_two_windows_is_emitted_once():
    # [100, 150) lies in windows [0, 180) and [90, 270); its emission (125) belongs to the first.
    out, _ = streamed([(3, 100, 150)], 300)
    assert out == [(3, 125)]


def test_repeated_signs_are_kept():
    out, _ = streamed([(5, 20, 80), (5, 90, 150), (5, 160, 230)], 400)
    assert out == [(5, 50), (5, 120), (5, 195)]


def test_a_sign_cut_by_a_window_edge_is_not_dropped():
    # [150, 210) crosses the end of window [0, 180); window [90, 270) sees it whole.
    out, _ = streamed([(2, 150, 210), (4, 255, 300)], 420)
    assert out == [(2, 180), (4, 277)]


def test_a_sign_at_the_end_of_the_stream_is_flushed():
    out, windows = streamed([(1, 10, 60), (6, 330, 365)], 370)
    assert out == [(1, 35), (6, 347)]
    assert windows[-1] == (190, 370)


def test_jittered_emissions_across_an_ownership_boundary_are_deduplicated():
    # Middle 134: window 0 places it at 134 (owns < 135), window 1 at 137 (owns >= 135).
    out, _ = streamed([(7, 110, 158)], 300, jitter=3)
    assert out == [(7, 134)]


def test_frame_by_frame_feeding_gives_the_same_glosses():
    rng = np.random.default_rng(0)
    signs, frame = [], 5
    for _ in range(20):  # a minute-long stream of signs of 0.5-1.5 s with short pauses
        length = int(rng.integers(30, 90))
        signs.append((int(rng.integers(1, 4)), frame, frame + length))
        frame += length + int(rng.integers(5, 20))
    whole, _ = streamed(signs, frame + 10)
    by_frame, _ = streamed(signs, frame + 10, frame_by_frame=True)
    assert whole == by_frame
    assert [gid for gid, _ in whole] == [gid for gid, _, _ in signs]  # nothing lost or doubled


def test_min_confidence_drops_weak_emissions():
    recognizer = ScriptedRecognizer([(1, 10, 60)])
    assert StreamingRecognizer(recognizer, min_confidence=0.95).run(stream_of(200)) == []


@pytest.mark.parametrize("bad", [dict(window_s=0.0), dict(overlap=1.0), dict(overlap=-0.1)])
def test_bad_window_settings_are_explained(bad):
    with pytest.raises(ValueError, match=r"window_s|overlap"):
        StreamingRecognizer(ScriptedRecognizer([]), **bad)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_streaming_matches_offline_on_synthetic_continuous_signing(index):
    """Long synthetic sentences (10-14 glosses, signs of 0.5-1.5 s): with emissions at each
    sign's middle, the stream gives exactly the offline sequence (edit distance 0). A sign no
    longer than the overlap always lies whole inside the window that owns its middle."""
    from whispersign_jax.data import synthetic

    config = synthetic.SyntheticConfig(mode="continuous", min_glosses=10, max_glosses=14)
    sample = synthetic.generate_sample(config, "test", index)
    signs = [
        (int(g), int(a), int(b)) for g, (a, b) in zip(sample.labels, sample.spans, strict=True)
    ]
    offline = ScriptedRecognizer(signs).recognize(stream_of(len(sample.keypoints))).ids
    assert offline == sample.labels.tolist()
    for jitter in (0, 3):
        online, windows = streamed(signs, len(sample.keypoints), jitter=jitter)
        assert len(windows) >= 6
        assert [gid for gid, _ in online] == list(offline)  # no edit between the two


class FrameLabelModel:
    """A deterministic stand-in for a trained model, decoded by the exported runtime's CTC
    greedy decoder: encoder position p (frames [4p, 4p + 4)) gives posterior 0.9 to the gloss
    whose id its first frame carries in feature 0 of joint 1 (0: the blank)."""

    PATCH_SIZE = 4

    def __init__(self, num_glosses: int):
        self.vocabulary = Vocabulary.from_names([f"g{i}" for i in range(1, num_glosses + 1)])
        self.classes = num_glosses + 1

    def recognize(self, clip: np.ndarray) -> Recognition:
        labels = clip[:: self.PATCH_SIZE, 1, 0].astype(int)  # (positions,)
        probabilities = np.full((len(labels), self.classes), 0.1 / (self.classes - 1))
        probabilities[np.arange(len(labels)), labels] = 0.9
        outputs = numpy_decoders.decode(
            np.log(probabilities).astype(np.float32),
            np.ones(len(labels), bool),
            DecodeOptions(decoder="ctc_greedy"),
            max_glosses=len(labels),
        )
        return to_recognitions(
            outputs, self.vocabulary, "ctc_greedy", self.PATCH_SIZE, np.array([len(clip)])
        )[0]


def labelled_stream(signs, frames: int) -> np.ndarray:
    """A stream with a hand in every frame and each sign's gloss id in feature 0 of joint 1
    over its frames."""
    clip = np.zeros((frames, 42, 7), np.float32)
    clip[:, 0, 6] = 1.0
    for gloss, start, end in signs:
        clip[start:end, 1, 0] = gloss
    return clip


def pushed_in_chunks(streamer: StreamingRecognizer, stream: np.ndarray, size: int = 7) -> list:
    """The glosses committed while ``stream`` is pushed ``size`` frames at a time."""
    return [
        g
        for first in range(0, len(stream), size)
        for g in streamer.push(stream[first : first + size])
    ]


def test_streaming_gives_the_offline_glosses_of_well_separated_signs():
    """Two minutes of signs of 1/3 to 1 s with pauses, recognised by a deterministic CTC model
    through 4 s windows (hop 2 s, a multiple of the 4-frame patch): a sign no longer than half
    the overlap lies whole in the window that owns its middle, and no window owns a cut-off
    view of a sign, so the stream commits exactly the offline glosses, spans included."""
    rng = np.random.default_rng(1)
    signs, frame = [], 10
    while frame < 120 * 60:
        length = int(rng.integers(20, 61))
        signs.append((int(rng.integers(1, 6)), frame, frame + length))
        frame += length + int(rng.integers(8, 40))
    frames = 4 * ((frame + 20) // 4)
    stream = labelled_stream(signs, frames)
    model = FrameLabelModel(num_glosses=5)

    offline = model.recognize(stream).glosses
    assert [g.id for g in offline] == [gloss for gloss, _, _ in signs]
    streamer = StreamingRecognizer(model, window_s=4.0)
    assert pushed_in_chunks(streamer, stream) + streamer.flush() == list(offline)


def test_streaming_a_clip_shorter_than_a_window_gives_the_offline_glosses(tiny_trained_model):
    """The trained model in the loop, fed 7-frame chunks: a clip shorter than one window is
    recognised once, whole, so the stream commits exactly the offline recognition."""
    from whispersign_jax.inference.recognizer import Recognizer

    run, clips = tiny_trained_model
    recognizer = Recognizer(run)
    for clip in clips:  # 1-3 glosses each, at most 150 frames
        keypoints = clip.keypoints
        assert len(keypoints) < WindowPlan.from_seconds(3.0, 0.5).window
        offline = recognizer.recognize(keypoints).glosses
        assert offline, "the tiny model recognises every training clip"
        streamer = recognizer.streaming(window_s=3.0)
        assert pushed_in_chunks(streamer, keypoints) == []  # no window completes before the end
        assert streamer.flush() == list(offline)


@pytest.mark.parametrize(("window_s", "overlap"), [(3.0, 0.5), (91 / 60, 0.5), (1.5, 0.75)])
def test_the_default_lookahead_owns_the_middle_of_each_overlap(window_s, overlap):
    plan = WindowPlan.from_seconds(window_s, overlap)
    for index in (1, 2, 7):
        assert plan.boundary(index) == index * plan.hop + plan.overlap // 2


def test_a_short_lookahead_commits_each_sign_soon_after_its_emission():
    """Signs of 30 frames every 50 frames after the first window's stretch (which reaches
    back to the stream's start); each gloss is committed when the window that owns its
    emission (the sign's middle) is complete: lookahead to lookahead + hop later."""
    signs = [(1 + i % 3, 100 + 50 * i, 130 + 50 * i) for i in range(12)]
    for lookahead_s, hop in ((0.25, 18), (None, 18)):
        recognizer = ScriptedRecognizer(signs)
        streamer = StreamingRecognizer(
            recognizer, window_s=1.5, overlap=0.8, lookahead_s=lookahead_s
        )
        delays = []
        for frame in stream_of(760):
            for gloss in streamer.push(frame):
                delays.append(streamer.frames_seen - (gloss.start_frame + 2))
        assert [g.id for g in streamer.committed] == [s[0] for s in signs]  # each sign once
        lookahead = streamer.plan.lookahead
        assert streamer.plan.hop == hop and lookahead == (15 if lookahead_s else 36)
        assert all(lookahead < d <= lookahead + hop for d in delays), delays
    with pytest.raises(ValueError, match=r"lookahead_s must lie in \[0, 1.2\] s"):
        StreamingRecognizer(recognizer, window_s=1.5, overlap=0.8, lookahead_s=1.5)
