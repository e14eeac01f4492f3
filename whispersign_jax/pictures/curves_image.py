"""Training curves of a workdir as one picture (TensorBoard's event reader + Pillow).

Each stage folder of a workdir holds the TensorBoard events that training writes
(``metric_writers``): the training loss every ``config.log_every_steps`` (``loss/total``) and
the validation metrics (``val/loss/total``, ``val/accuracy``, ``val/wer``). Stages restart
their step count, so the picture puts them one after the other on a common step axis, each
on its own shaded band.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# (panel title, ((tag, legend label, colour), ...)): what the picture shows.
PANELS = (
    (
        "loss",
        (
            ("loss/total", "training loss", (31, 119, 180)),
            ("val/loss/total", "validation loss", (255, 127, 14)),
        ),
    ),
    (
        "validation",
        (
            ("val/accuracy", "accuracy", (44, 160, 44)),
            ("val/wer", "WER", (214, 39, 40)),
        ),
    ),
)
TAGS = tuple(tag for _, series in PANELS for tag, _, _ in series)
EVENTS_GLOB = "events.out.tfevents.*"
LOG_SCALE_RATIO = 30.0  # a panel whose values span more than this ratio gets a log axis

Curve = tuple[np.ndarray, np.ndarray]  # (steps (n,) int, values (n,) float)


def stage_folders(workdir: str | Path) -> list[Path]:
    """The stage folders of a workdir that hold event files, in ``config.stage_order``
    (folder name order without a config); a workdir that is itself one stage folder is
    returned alone. A FileNotFoundError names the folder when there are none."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise FileNotFoundError(f"{workdir}: no such workdir")
    if any(workdir.glob(EVENTS_GLOB)):
        return [workdir]
    folders = sorted(p for p in workdir.iterdir() if p.is_dir() and any(p.glob(EVENTS_GLOB)))
    config = workdir / "config.json"
    if config.is_file():
        order = json.loads(config.read_text()).get("stage_order", [])
        folders.sort(key=lambda p: order.index(p.name) if p.name in order else len(order))
    folders = [p for p in folders if p.name != "eval"]  # evaluation reports: no curves
    if not folders:
        raise FileNotFoundError(
            f"{workdir}: no stage folder with TensorBoard events ({EVENTS_GLOB}); pass a "
            "training workdir (python -m whispersign_jax.main --workdir=...)"
        )
    return folders


def read_curves(folder: Path, tags: Sequence[str] = TAGS) -> dict[str, Curve]:
    """The scalar series of ``tags`` in one folder's event files (finite values only),
    whether written by CLU (tensor summaries) or as classic scalar summaries."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    available = events.Tags()
    curves = {}
    for tag in tags:
        if tag in available["tensors"]:
            points = [(e.step, float(make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]
        elif tag in available["scalars"]:
            points = [(e.step, e.value) for e in events.Scalars(tag)]
        else:
            continue
        points = sorted({step: value for step, value in points}.items())  # last write wins
        steps, values = (np.array(column) for column in zip(*points, strict=True))
        finite = np.isfinite(values)
        if finite.any():
            curves[tag] = (steps[finite].astype(int), values[finite].astype(float))
    return curves


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten apart) covering
    ``[low, high]``."""
    if not high > low:
        high = low + 1.0
    raw = (high - low) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(math.ceil((high - first) / step) + 1)]


def _label(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.2g}"


def render_curves(
    stages: Mapping[str, Mapping[str, Curve]], title: str = "", size: tuple[int, int] = (960, 640)
) -> Image.Image:
    """One panel per entry of ``PANELS``, stages side by side on the step axis (each offset by
    the steps of the stages before it), with axes, tick labels and a legend."""
    width, height = size
    picture = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(picture)
    font, title_font = ImageFont.load_default(size=13), ImageFont.load_default(size=16)
    offsets, start = {}, 0
    for name, curves in stages.items():
        offsets[name] = start
        start += max((int(steps.max()) for steps, _ in curves.values()), default=0)
    total_steps = max(start, 1)
    top = 30 if title else 8
    if title:
        draw.text((10, 6), title, fill="black", font=title_font)
    panel_height = (height - top) // len(PANELS)
    for position, (panel_title, series) in enumerate(PANELS):
        box = (
            70,
            top + position * panel_height + 22,
            width - 20,
            top + (position + 1) * panel_height - 34,
        )
        _draw_panel(draw, box, panel_title, series, stages, offsets, total_steps, font)
    return picture


def _draw_panel(draw, box, panel_title, series, stages, offsets, total_steps, font) -> None:
    left, top, right, bottom = box
    values = [curves[tag][1] for curves in stages.values() for tag, _, _ in series if tag in curves]
    low = min((float(v.min()) for v in values), default=0.0)
    high = max((float(v.max()) for v in values), default=1.0)
    logarithmic = low > 0 and high / low > LOG_SCALE_RATIO  # losses fall by orders of magnitude
    if logarithmic:
        ticks = [
            10.0**p for p in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        ]
        scale = math.log10
    else:
        ticks, scale = nice_ticks(min(0.0, low), high), float
    low, high = scale(ticks[0]), scale(ticks[-1])

    def x_of(step: float) -> float:
        return left + (right - left) * step / total_steps

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * (scale(value) - low) / (high - low)

    for index, name in enumerate(stages):  # shaded band and name of each stage
        end = offsets[name] + max(
            (int(steps.max()) for steps, _ in stages[name].values()), default=0
        )
        if index % 2:
            draw.rectangle([x_of(offsets[name]), top, x_of(end), bottom], fill=(240, 240, 245))
        draw.text((x_of(offsets[name]) + 4, top + 2), name, fill=(90, 90, 90), font=font)
    for tick in ticks:
        y = y_of(tick)
        draw.line([(left, y), (right, y)], fill=(225, 225, 225))
        label = _label(tick)
        draw.text((left - 6 - draw.textlength(label, font=font), y - 7), label, "black", font)
    for tick in nice_ticks(0, total_steps, 8):
        if tick <= total_steps:
            x = x_of(tick)
            draw.line([(x, bottom), (x, bottom + 4)], fill="black")
            label = _label(tick)
            draw.text((x - draw.textlength(label, font=font) / 2, bottom + 6), label, "black", font)
    draw.rectangle([left, top, right, bottom], outline="black")
    axis = " (log scale)" if logarithmic else ""
    draw.text((left, top - 18), panel_title + axis, fill="black", font=font)
    draw.text((right - 30, bottom + 18), "step", fill="black", font=font)
    legend_x = right
    for _tag, label, colour in reversed(series):
        legend_x -= draw.textlength(label, font=font) + 26
        draw.line([(legend_x, top - 10), (legend_x + 16, top - 10)], fill=colour, width=3)
        draw.text((legend_x + 20, top - 18), label, fill="black", font=font)
    for name, curves in stages.items():
        for tag, _, colour in series:
            if tag not in curves:
                continue
            steps, tag_values = curves[tag]
            points = [
                (x_of(offsets[name] + s), y_of(v)) for s, v in zip(steps, tag_values, strict=True)
            ]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            for x, y in points if len(points) <= 60 else points[-1:]:
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
