"""Keypoint clips as pictures (NumPy + Pillow, no JAX): hand skeletons frame by frame, with
the glosses of the clip as a caption and a timeline.

Positions are MediaPipe's normalised image coordinates (x right in image widths, y down in
image heights), so a frame of ``width x height`` pixels maps ``(x, y)`` to
``(x * width, y * height)``. The signer's anatomical LEFT hand (joints 0-20) is drawn in
orange, the RIGHT hand (21-41) in blue, pose and lip points small and grey. A missing joint
(confidence 0) is not drawn, and a missing hand's legend entry turns grey.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from whispersign_jax import keypoints as kp

LEFT_HAND_COLOUR = (255, 140, 0)  # orange: the signer's anatomical left hand
RIGHT_HAND_COLOUR = (0, 160, 255)  # blue: the signer's anatomical right hand
BODY_COLOUR = (150, 150, 150)  # pose and lip points
CANVAS_COLOUR = (18, 18, 24)
TEXT_COLOUR = (235, 235, 235)
MUTED_COLOUR = (110, 110, 120)  # a missing hand's legend, glosses not being signed
HIGHLIGHT_COLOUR = (255, 230, 60)  # the gloss being signed now
RECENT_COLOUR = (180, 180, 190)  # the last gloss signed, until the next one
TIMELINE_COLOUR = (45, 45, 55)
SEPARATOR = (80, 80, 90)  # between the tiles of a contact sheet
DEFAULT_SIZE = (640, 480)  # width, height: the 4:3 of webcams and of the synthetic data
DEFAULT_FPS = 20.0  # frames per second of an animation of the 60 FPS keypoints

# MediaPipe Pose connections among `kp.POSE_POINTS`: shoulders, arms, torso.
POSE_BONES = ((11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24))


class TimedGloss(Protocol):
    """What a caption needs of a gloss (``decoding.RecognizedGloss`` has it)."""

    name: str

    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


@dataclasses.dataclass(frozen=True)
class Caption:
    """A gloss and its ``[start_s, end_s)`` span in seconds, for glosses that no model
    recognised (reference labels)."""

    name: str
    start_s: float
    end_s: float


def check_clip(keypoints: np.ndarray) -> kp.JointSet:
    """The joint set of `(T, J, 7)` keypoints; a ValueError for another shape."""
    joint_set = kp.joint_set_for(keypoints.shape[1]) if keypoints.ndim == 3 else None
    if joint_set is None or keypoints.shape[2] != kp.NUM_FEATURES or len(keypoints) == 0:
        counts = ", ".join(f"{s.num_joints} ({s.name})" for s in kp.JOINT_SETS.values())
        raise ValueError(
            f"keypoints must have shape (frames >= 1, J, {kp.NUM_FEATURES}) with J = {counts}, "
            f"got {keypoints.shape}"
        )
    return joint_set


def frame_indices(num_frames: int, fps: float = DEFAULT_FPS) -> np.ndarray:
    """The 60 FPS frames an animation at `fps` shows: `(n,)` int, every `60 / fps`-th."""
    if not 0 < fps <= kp.FPS:
        raise ValueError(f"fps={fps:g}: choose a rate in (0, {kp.FPS}] frames per second")
    return np.unique(np.floor(np.arange(0, num_frames, kp.FPS / fps)).astype(int))


def current_gloss(glosses: Sequence[TimedGloss], time_s: float) -> int | None:
    """Index of the gloss whose `[start_s, end_s)` holds `time_s`, or None."""
    for index, gloss in enumerate(glosses):
        if gloss.start_s <= time_s < gloss.end_s:
            return index
    return None


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _panel_height(height: int) -> int:
    return max(36, height // 6)


def render_frame(
    clip: np.ndarray,
    index: int,
    glosses: Sequence[TimedGloss] | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    background: np.ndarray | None = None,
) -> Image.Image:
    """Frame `index` of a `(T, J, 7)` clip as an RGB image of `size` (width, height), on a dark
    canvas or over `background` ((h, w, 3) uint8, resized to `size`); with `glosses`, a
    caption panel below it (the image is then taller)."""
    joint_set = check_clip(clip)
    width, height = size
    if background is None:
        picture = Image.new("RGB", size, CANVAS_COLOUR)
    else:
        picture = Image.fromarray(np.asarray(background, np.uint8)).convert("RGB").resize(size)
    draw = ImageDraw.Draw(picture)
    frame = clip[index]  # (joints, features)
    scale = max(1, round(min(width, height) / 240))  # line width, pixels
    _draw_body(draw, frame, joint_set, size, scale)
    present = []
    for part, colour in (("left_hand", LEFT_HAND_COLOUR), ("right_hand", RIGHT_HAND_COLOUR)):
        hand = frame[joint_set.part(part)]  # (21, features)
        present.append(bool(np.any(hand[:, kp.CONFIDENCE] > 0)))
        _draw_hand(draw, hand, size, colour, scale)
    _draw_header(draw, index, len(clip), present, width)
    if glosses is None:
        return picture
    framed = Image.new("RGB", (width, height + _panel_height(height)), CANVAS_COLOUR)
    framed.paste(picture, (0, 0))
    _draw_captions(ImageDraw.Draw(framed), glosses, index, len(clip), (0, height, width))
    return framed


def _pixels(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`(n, >=2)` normalised x, y -> `(n, 2)` pixel positions."""
    return points[:, :2] * np.array(size, np.float64)


def _draw_hand(draw, hand: np.ndarray, size, colour, scale: int) -> None:
    """21 joints: bones between present joints, then a dot on each present joint."""
    present = hand[:, kp.CONFIDENCE] > 0
    pixels = _pixels(hand, size)
    for parent, child in kp.HAND_BONES:
        if present[parent] and present[child]:
            draw.line([tuple(pixels[parent]), tuple(pixels[child])], fill=colour, width=scale)
    radius = scale + 1
    for x, y in pixels[present]:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)


def _draw_body(draw, frame: np.ndarray, joint_set: kp.JointSet, size, scale: int) -> None:
    """Pose points with their arm and torso connections, and lip points, small and grey."""
    if "pose" in joint_set.parts:
        pose = frame[joint_set.part("pose")]  # (13, features) in `kp.POSE_POINTS` order
        present = pose[:, kp.CONFIDENCE] > 0
        pixels = _pixels(pose, size)
        for a, b in POSE_BONES:
            i, j = kp.POSE_POINTS.index(a), kp.POSE_POINTS.index(b)
            if present[i] and present[j]:
                draw.line([tuple(pixels[i]), tuple(pixels[j])], fill=BODY_COLOUR, width=1)
        _dots(draw, pixels[present], scale, BODY_COLOUR)
    if "lips" in joint_set.parts:
        lips = frame[joint_set.part("lips")]  # (40, features)
        _dots(draw, _pixels(lips, size)[lips[:, kp.CONFIDENCE] > 0], 1, BODY_COLOUR)


def _dots(draw, pixels: np.ndarray, radius: int, colour) -> None:
    for x, y in pixels:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)


def _draw_header(draw, index: int, num_frames: int, present: list[bool], width: int) -> None:
    """Frame counter and time at the top left; the hands' legend at the top right, grey for
    a hand missing in this frame (short forms on small pictures)."""
    font = _font(max(10, width // 40))
    compact = width < 320
    counter = (
        f"{index / kp.FPS:.2f} s"
        if compact
        else (f"frame {index + 1}/{num_frames}  {index / kp.FPS:5.2f} s")
    )
    _boxed_text(draw, (3, 3), counter, TEXT_COLOUR, font)
    legend = [
        ("left hand", LEFT_HAND_COLOUR, present[0]),
        ("right hand", RIGHT_HAND_COLOUR, present[1]),
    ]
    right = width - 3
    for name, colour, shown in reversed(legend):
        label = name.split()[0][0].upper() if compact else name if shown else f"{name}: none"
        right -= draw.textlength(label, font=font) + 2
        _boxed_text(draw, (right, 3), label, colour if shown else MUTED_COLOUR, font)
        right -= 8


def _boxed_text(draw, origin, text: str, colour, font) -> None:
    """Text on a black box, readable over video frames."""
    left, top, right, bottom = draw.textbbox(origin, text, font=font)
    draw.rectangle([left - 2, top - 2, right + 2, bottom + 2], fill=(0, 0, 0))
    draw.text(origin, text, fill=colour, font=font)


def _draw_captions(draw, glosses, index: int, num_frames: int, box) -> None:
    """The current gloss as a highlighted caption (after it, the last gloss signed in grey),
    and a timeline of all gloss spans with a playhead."""
    left, top, width = box
    panel = _panel_height(top)
    time_s = index / kp.FPS
    current = current_gloss(glosses, time_s)
    caption_font = _font(panel // 3)
    if current is not None:
        caption, colour = glosses[current].name, HIGHLIGHT_COLOUR
    else:  # the last gloss signed stays as a plain caption (CTC spans are short)
        signed = [gloss.name for gloss in glosses if gloss.end_s <= time_s]
        caption, colour = (signed[-1], RECENT_COLOUR) if signed else ("·", MUTED_COLOUR)
    text_width = draw.textlength(caption, font=caption_font)
    draw.text((left + (width - text_width) / 2, top + 3), caption, fill=colour, font=caption_font)
    bar_top, bar_bottom = top + panel // 2, top + panel - 4
    draw.rectangle([left + 2, bar_top, left + width - 3, bar_bottom], fill=TIMELINE_COLOUR)
    seconds = num_frames / kp.FPS
    label_font = _font(panel // 6)
    for position, gloss in enumerate(glosses):
        start = left + 2 + (width - 5) * min(max(gloss.start_s / seconds, 0.0), 1.0)
        end = left + 2 + (width - 5) * min(max(gloss.end_s / seconds, 0.0), 1.0)
        fill = HIGHLIGHT_COLOUR if position == current else MUTED_COLOUR
        draw.rectangle([start, bar_top, max(start, end - 1), bar_bottom], fill=fill)
        if draw.textlength(gloss.name, font=label_font) < end - start - 4:
            draw.text((start + 2, bar_top + 1), gloss.name, fill=(0, 0, 0), font=label_font)
    playhead = left + 2 + (width - 5) * time_s / seconds
    draw.line([(playhead, bar_top - 3), (playhead, bar_bottom + 3)], fill=TEXT_COLOUR, width=2)


def render_frames(
    clip: np.ndarray,
    glosses: Sequence[TimedGloss] | None = None,
    fps: float = DEFAULT_FPS,
    size: tuple[int, int] = DEFAULT_SIZE,
    backgrounds: Sequence[np.ndarray] | None = None,
) -> list[Image.Image]:
    """An animation of a `(T, J, 7)` clip at `fps`: the frames `frame_indices(T, fps)`, each
    `render_frame`; `backgrounds` gives one image per rendered frame (video frames)."""
    check_clip(clip)
    indices = frame_indices(len(clip), fps)
    if backgrounds is not None and len(backgrounds) != len(indices):
        raise ValueError(f"{len(backgrounds)} background images for {len(indices)} frames")
    return [
        render_frame(clip, index, glosses, size, None if backgrounds is None else backgrounds[i])
        for i, index in enumerate(indices)
    ]


def contact_sheet(
    clip: np.ndarray,
    glosses: Sequence[TimedGloss] | None = None,
    frames: int = 6,
    tile: tuple[int, int] = (192, 144),
    title: str = "",
) -> Image.Image:
    """`frames` evenly spaced frames of a clip side by side (a still picture for TensorBoard,
    which shows no animation), under an optional title line."""
    check_clip(clip)
    indices = np.unique(np.linspace(0, len(clip) - 1, frames).round().astype(int))
    tiles = [render_frame(clip, int(index), glosses, tile) for index in indices]
    title_height = 18 if title else 0
    step = tile[0] + 2  # tiles 2 pixels apart
    sheet = Image.new("RGB", (step * len(tiles) - 2, tiles[0].height + title_height), SEPARATOR)
    sheet.paste(CANVAS_COLOUR, (0, 0, sheet.width, title_height))
    for position, picture in enumerate(tiles):
        sheet.paste(picture, (position * step, title_height))
    if title:
        ImageDraw.Draw(sheet).text((4, 2), title, fill=TEXT_COLOUR, font=_font(12))
    return sheet


def stack_vertically(pictures: Sequence[Image.Image]) -> Image.Image:
    """Pictures one below the other, left aligned, on the dark canvas colour."""
    width = max(picture.width for picture in pictures)
    stacked = Image.new("RGB", (width, sum(p.height for p in pictures)), CANVAS_COLOUR)
    top = 0
    for picture in pictures:
        stacked.paste(picture, (0, top))
        top += picture.height
    return stacked


def sample_captions(labels: np.ndarray, spans: np.ndarray, names: Sequence[str]) -> list[Caption]:
    """Reference glosses of a sample: `(L,)` gloss ids 1..N with `(L, 2)` `[start, end)`
    frames (the whole clip for untimed sources), named by `names[id - 1]`."""
    return [
        Caption(names[int(label) - 1], start / kp.FPS, end / kp.FPS)
        for label, (start, end) in zip(labels, spans, strict=True)
    ]


def samples_sheet(samples: Sequence, names: Sequence[str], count: int = 3) -> np.ndarray | None:
    """Contact sheets of `count` samples spread over `samples` (each with `keypoints`,
    `labels`, `spans`: `data.sample.Sample`), one below the other, captioned with their
    reference glosses: `(height, width, 3)` uint8, or None without samples."""
    if not samples:
        return None
    chosen = np.unique(np.linspace(0, len(samples) - 1, count).round().astype(int))
    sheets = []
    for index in chosen:
        sample = samples[index]
        captions = sample_captions(sample.labels, sample.spans, names)
        title = f"sample {index}: {' '.join(c.name for c in captions)}"
        sheets.append(contact_sheet(sample.keypoints, captions, title=title))
    return np.asarray(stack_vertically(sheets))
