"""One definition of the live features: ``live_features.window_features`` on one window equals
the Python recogniser's chain (whole-stream resampling, keypoints, a window's slice,
preprocessing), and ``features.onnx`` exported from it gives the same numbers."""

import numpy as np
import pytest

from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.extraction.tracks import resampling_times, tracks_to_keypoints
from whispersign_jax.inference.live_features import CONTEXT_FRAMES, window_features
from whispersign_jax.keypoints import FPS

WINDOW = 180
ROWS = 245  # camera rows of a 3 s window (export.web.camera_frames)
PREPROCESSORS = {
    "none": Preprocessor(),
    "hands": Preprocessor(normalize_hands=True),
    "standardized": Preprocessor(
        True, (0.5, 0.6, 0.0, 0.0, 0.1, 0.0), (0.2, 0.3, 0.05, 0.5, 2, 0.3)
    ),
}


def camera_stream(frames: int, seed: int):
    """Hands of a ~30 FPS camera with jittered frame times, gaps and one-hand stretches."""
    rng = np.random.default_rng(seed)
    times = 7.25 + np.concatenate([[0.0], np.cumsum(rng.uniform(0.022, 0.045, frames - 1))])
    times[frames // 2 :] += 0.15  # a stall longer than MAX_INTERPOLATION_GAP_S
    positions = rng.uniform(0.2, 0.8, (frames, 2, 21, 3))
    presence = (rng.random((frames, 2)) > 0.25) * rng.uniform(0.5, 1.0, (frames, 2))
    positions[presence == 0] = 0.0
    return positions, presence, times


def window_inputs(positions, presence, times, start: int, stream_frames: int, dtype):
    """What the page feeds features.onnx for grid frames [start, start + WINDOW): every camera
    frame (here all fit), times relative to the window's first grid time."""
    frames = np.arange(start - CONTEXT_FRAMES, start + WINDOW + CONTEXT_FRAMES)
    reference = times[0] + start / FPS
    rows = np.zeros((ROWS, *positions.shape[1:])), np.zeros((ROWS, 2)), 1000.0 + np.arange(ROWS)
    count = min(len(times), ROWS)
    rows[0][:count], rows[1][:count], rows[2][:count] = (
        positions[:count],
        presence[:count],
        times[:count] - reference,
    )
    grid_times = times[0] + frames / FPS - reference
    valid = (frames >= 0) & (frames < stream_frames)
    return *(a.astype(dtype) for a in (*rows, grid_times)), valid


@pytest.mark.parametrize("preprocessing", sorted(PREPROCESSORS))
@pytest.mark.parametrize("frames", [40, 150])
def test_a_window_equals_the_python_chain(preprocessing, frames):
    preprocessor = PREPROCESSORS[preprocessing]
    positions, presence, times = camera_stream(frames, seed=frames)
    stream = tracks_to_keypoints(positions, presence, times)  # (T', 42, 7), as extract makes
    assert len(stream) == len(resampling_times(times, FPS))
    starts = {0, 1, max(0, len(stream) - WINDOW), len(stream) // 3}
    for start in sorted(starts):
        inputs = window_inputs(positions, presence, times, start, len(stream), np.float64)
        keypoints, features = window_features(*inputs, preprocessor)
        expected = stream[start : start + WINDOW]
        assert keypoints.shape == features.shape == (WINDOW, 42, 7)
        np.testing.assert_array_equal(keypoints[: len(expected)], expected)
        np.testing.assert_array_equal(features[: len(expected)], preprocessor(expected))
        assert not keypoints[len(expected) :].any()  # beyond the stream: no frames
        assert (expected[..., 6] > 0).any() and (expected[..., 3:6] != 0).any()


@pytest.mark.parametrize("preprocessing", ["none", "standardized"])
def test_the_exported_graph_matches_numpy(preprocessing, tmp_path):
    pytest.importorskip("jax2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from whispersign_jax.export.web import camera_frames, export_features

    assert camera_frames(WINDOW) == ROWS
    preprocessor = PREPROCESSORS[preprocessing]  # none: the model input is the keypoints
    path = tmp_path / "features.onnx"
    export_features(preprocessor, WINDOW, path)
    # ONNX Runtime Web refuses graphs whose declared shapes disagree with ONNX's inference
    onnx = pytest.importorskip("onnx")
    onnx.shape_inference.infer_shapes(onnx.load(str(path)), strict_mode=True, data_prop=True)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == ["positions", "presence", "times", "grid_times", "grid_valid"]
    positions, presence, times = camera_stream(150, seed=3)
    stream_frames = len(tracks_to_keypoints(positions, presence, times))
    for start in (0, stream_frames - 90):
        inputs = window_inputs(positions, presence, times, start, stream_frames, np.float32)
        keypoints, features = session.run(None, dict(zip(names, inputs, strict=True)))
        expected = window_features(
            *window_inputs(positions, presence, times, start, stream_frames, np.float64),
            preprocessor,
        )
        # float32 graph against NumPy's float64 resampling and velocities
        np.testing.assert_allclose(keypoints, expected[0], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(features, expected[1], rtol=1e-3, atol=1e-3)
        np.testing.assert_array_equal(keypoints[..., 6] > 0, expected[0][..., 6] > 0)
