"""The streaming latency (with the infer suite, when it timed ``infer.base.<default decoder>``).

``stream.latency_{p50,p95}_ms``: from the last frame of a sign to its gloss's emission in
the sliding-window stream (``inference.streaming.StreamingRecognizer`` with its default
windows: 3 s, 50% overlap), fed frame by frame, counting the base default decoder's window
time (``stream.window_ms``) for each window; ``stream.glosses``: the emissions measured, over
30 continuous synthetic sentences of 10-14 signs. The model's timing is an oracle
(``SignMiddles``), so the figure is the stream's own delay plus one window's compute.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import p50, p95
from whispersign_jax.decoding import Recognition, RecognizedGloss
from whispersign_jax.keypoints import CONFIDENCE, FPS, NUM_FEATURES, NUM_JOINTS

SENTENCES = 30


class SignMiddles:
    """Stands in for the model's timing: emits each sign that lies wholly inside the window
    at its middle (what a well-trained CTC head does)."""

    def __init__(self, signs: list[tuple[int, int, int]]):
        self.signs = signs  # (gloss, start frame, end frame), stream frames

    def recognize(self, clip: np.ndarray) -> Recognition:
        start, end = int(clip[0, 0, 0]), int(clip[-1, 0, 0]) + 1  # stream frames
        glosses = tuple(
            RecognizedGloss(g, str(g), 1.0, (a + b) // 2 - start - 2, (a + b) // 2 - start + 2)
            for g, a, b in self.signs
            if start <= a and b <= end
        )
        return Recognition(glosses, 0.0, "timing")


def sentence_latencies(index: int, window_ms: float) -> list[float]:
    """Milliseconds from each sign's last frame to its emission in synthetic sentence
    ``index``, plus ``window_ms``."""
    from whispersign_jax.data import synthetic
    from whispersign_jax.inference.streaming import StreamingRecognizer

    config = synthetic.SyntheticConfig(mode="continuous", min_glosses=10, max_glosses=14)
    sample = synthetic.generate_sample(config, "test", index)
    signs = [
        (int(g), int(a), int(b)) for g, (a, b) in zip(sample.labels, sample.spans, strict=True)
    ]
    frames = np.zeros((len(sample.keypoints), NUM_JOINTS, NUM_FEATURES), np.float32)
    frames[:, 0, 0] = np.arange(len(frames))  # the oracle reads its window's place here
    frames[:, 0, CONFIDENCE] = 1.0  # a hand is present: the stream skips hand-less windows
    streamer = StreamingRecognizer(SignMiddles(signs))
    ends = {(a + b) // 2: b for _, a, b in signs}
    latencies = []
    for frame in range(len(frames)):
        for gloss in streamer.push(frames[frame]):
            middle = (gloss.start_frame + gloss.end_frame) // 2
            latencies.append((frame + 1 - ends[middle]) / FPS * 1e3 + window_ms)
    for gloss in streamer.flush():  # the stream ends with its last frame
        middle = (gloss.start_frame + gloss.end_frame) // 2
        latencies.append((len(frames) - ends[middle]) / FPS * 1e3 + window_ms)
    return latencies


def benchmark_streaming_latency(window_ms: float) -> dict[str, float]:
    """``stream.*`` when each window takes ``window_ms`` to recognise."""
    latencies = [ms for index in range(SENTENCES) for ms in sentence_latencies(index, window_ms)]
    return {
        "stream.window_ms": window_ms,
        "stream.latency_p50_ms": p50(latencies),
        "stream.latency_p95_ms": p95(latencies),
        "stream.glosses": float(len(latencies)),
    }
