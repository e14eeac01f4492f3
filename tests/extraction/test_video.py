import math
import sys

import pytest

from whispersign_jax.extraction.errors import ExtractionError
from whispersign_jax.extraction.video import VideoReader, next_frame_time


def test_container_times_are_used_when_increasing():
    assert next_frame_time(0.0, -math.inf, 1 / 30) == 0.0
    assert next_frame_time(33.4, 0.0, 1 / 30) == pytest.approx(0.0334)


@pytest.mark.parametrize("container_ms", [33.0, 10.0, float("nan"), 0.0])
def test_repeated_or_broken_container_times_fall_back_to_the_frame_period(container_ms):
    assert next_frame_time(container_ms, 0.033, 1 / 30) == pytest.approx(0.033 + 1 / 30)


def test_missing_video_is_named(tmp_path):
    with pytest.raises(ExtractionError, match=r"no_such\.mp4: no such video file"):
        VideoReader(tmp_path / "no_such.mp4")


def test_missing_opencv_says_how_to_install_it(tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ExtractionError, match="pip install opencv-python-headless mediapipe"):
        VideoReader(video)
