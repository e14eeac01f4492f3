"""Pictures of keypoint clips and of training runs.

    whispersign-visualize --keypoints=clip.npy --out=clip.gif [--fps=20] [--size=640x480]
    whispersign-visualize --keypoints=clip.npy --video=clip.mp4 --out=clip.mp4
    whispersign-visualize --keypoints=clip.npy --workdir=runs/demo --out=clip.gif
    whispersign-visualize --curves --workdir=runs/demo --out=curves.png

(or ``python -m whispersign_jax.visualize``). A clip is drawn as hand skeletons (MediaPipe's
21-point topology): the signer's anatomical LEFT hand (joints 0-20) in orange, the RIGHT hand
(joints 21-41) in blue, pose and lip points small and grey; a hand missing from a frame is not
drawn and its legend entry turns grey. ``--out`` ends in ``.gif`` (Pillow), ``.mp4`` (needs
OpenCV) or ``.png`` (six frames side by side). ``--video`` draws over the source video's
frames (needs OpenCV: ``pip install -e ".[video]"``). With ``--workdir`` the trained model
recognises the clip and its glosses become a caption and a timeline. ``--curves`` draws the
losses and validation accuracy of each stage of a training workdir against the step.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from absl import app, flags, logging
from PIL import GifImagePlugin, Image

from whispersign_jax import cli
from whispersign_jax import keypoints as kp
from whispersign_jax.errors import one_line_errors
from whispersign_jax.pictures import rendering

ANIMATIONS = (".gif", ".mp4")
STILL = ".png"
VIDEO_EXTRA = 'pip install -e ".[video]"'
LONG_SIDE = 640  # pixels: the longer side of the picture when it follows a video's aspect


def load_clip(path: str | Path) -> np.ndarray:
    """A ``.npy`` file of ``(T, J, 7)`` keypoints, checked; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--keypoints={path}: no such file")
    return kp.validate_keypoints(kp.load_npy(path), f"--keypoints={path}")


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> (640, 480)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        width = height = 0
    if not (16 <= width <= 4096 and 16 <= height <= 4096):
        raise ValueError(f"--size={text!r}: expected WIDTHxHEIGHT in pixels, e.g. 640x480")
    return width, height


def check_out(out: str, allowed: Sequence[str]) -> Path:
    """``--out``'s path, whose extension must be one of ``allowed``."""
    path = Path(out)
    if path.suffix.lower() not in allowed:
        raise ValueError(
            f"--out={out}: unknown picture type {path.suffix or '(no extension)'!r}; "
            f"end the name in {' or '.join(allowed)}"
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"--out={out}: folder {path.parent} does not exist")
    return path


def import_cv2(why: str):
    """OpenCV, or an ImportError saying how to install it."""
    try:
        import cv2
    except ImportError:
        raise ImportError(
            f"{why} needs OpenCV (the cv2 package), which is not installed; install it with "
            f"{VIDEO_EXTRA}"
        ) from None
    return cv2


def read_video(
    path: str | Path, times_s: np.ndarray, size: tuple[int, int] | None
) -> tuple[Iterator[np.ndarray], tuple[int, int]]:
    """The frames of a video nearest to ``times_s`` (seconds from its first frame, rising) as
    ``(height, width, 3)`` uint8 RGB, resized to ``size`` (default: the video's aspect with
    its longer side ``LONG_SIDE``), read one at a time as they are drawn; returns
    ``(frames, size)``."""
    cv2 = import_cv2("--video")
    if not Path(path).is_file():
        raise FileNotFoundError(f"--video={path}: no such file")
    capture = cv2.VideoCapture(str(path))
    ok, first_bgr = capture.read()
    fps = capture.get(cv2.CAP_PROP_FPS)
    if not ok or not fps > 0:
        capture.release()
        raise ValueError(f"--video={path}: no readable frames (is it a video OpenCV can open?)")
    if size is None:
        height, width = first_bgr.shape[:2]
        ratio = LONG_SIDE / max(width, height)
        size = (round(width * ratio), round(height * ratio))
    seconds = capture.get(cv2.CAP_PROP_FRAME_COUNT) / fps
    if seconds > 0 and abs(seconds - times_s[-1]) > 1.0:
        logging.warning(
            "--video=%s lasts %.1f s but the keypoints %.1f s; are they from this video?",
            path, seconds, times_s[-1],
        )  # fmt: skip
    wanted = np.round(times_s * fps).astype(int)  # (pictures,) video frame indices, rising
    return video_frames(cv2, capture, first_bgr, wanted, size), size


def video_frames(cv2, capture, frame_bgr: np.ndarray, wanted: np.ndarray, size: tuple[int, int]):
    """Frames ``wanted`` of an opened ``capture`` whose first frame is ``frame_bgr``, as RGB of
    ``size``; past the video's end its last frame. Releases the capture when done."""
    position, ended = 0, False  # the index of frame_bgr; no frame after it
    try:
        for index in wanted:
            while position < index and not ended:
                ok, next_bgr = capture.read()
                if ok:
                    frame_bgr, position = next_bgr, position + 1
                ended = not ok
            yield cv2.cvtColor(cv2.resize(frame_bgr, size), cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def write_gif(frames: Iterable[Image.Image], path: Path, duration_ms: float) -> int:
    """An endless GIF written frame by frame, each with its own 256-colour palette (Pillow's
    ``save(append_images=...)`` holds every frame until the end); returns the frame count."""
    count = 0
    with open(path, "wb") as file:
        for frame in frames:
            picture = frame.convert("P", palette=Image.Palette.ADAPTIVE)
            if count == 0:
                header, _ = GifImagePlugin.getheader(picture, info={"loop": 0})
                file.writelines(header)
            local = dict(duration=duration_ms, include_color_table=True)
            file.writelines(GifImagePlugin.getdata(picture, **local))
            count += 1
        file.write(b";")  # the end of the GIF
    return count


def write_mp4(frames: Iterable[Image.Image], path: Path, fps: float, out: Path) -> int:
    """An MP4 video (OpenCV's ``mp4v``) written frame by frame to ``path`` (``out``: the file
    the user asked for, named in errors); returns the frame count."""
    cv2 = import_cv2(f"--out={out} (an .mp4 video)")
    frames = iter(frames)
    first = next(frames)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, first.size)
    if not writer.isOpened():
        raise OSError(f"--out={out}: OpenCV cannot write this MP4 file")
    count = 0
    try:
        for frame in itertools.chain([first], frames):
            writer.write(cv2.cvtColor(np.asarray(frame), cv2.COLOR_RGB2BGR))
            count += 1
    finally:
        writer.release()
    return count


def write_animation(frames: Iterable[Image.Image], out: Path, fps: float) -> int:
    """PIL images as an endless GIF or an MP4 video at ``fps``; each frame goes to the file as
    it comes, so memory stays flat however long the clip. The file is written beside ``out``
    and renamed once complete, so a failure midway leaves ``out`` as it was. Returns the
    frame count."""
    partial = out.with_name(f".{out.stem}.partial{out.suffix}")  # the suffix picks the format
    try:
        if out.suffix.lower() == ".gif":
            count = write_gif(frames, partial, 1000 / fps)
        else:
            count = write_mp4(frames, partial, fps, out)
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count


def recognised_glosses(clip: np.ndarray, workdir: str, stage: str, source: str) -> list:
    """The glosses a trained workdir's model recognises in ``clip`` (imports JAX)."""
    from whispersign_jax.inference.recognizer import Recognizer

    return list(Recognizer.load(workdir, stage or None).recognize(clip, source).glosses)


def draw_clip(args) -> str:
    """``--keypoints`` -> ``--out``; returns a one-line summary."""
    out = check_out(args.out, (*ANIMATIONS, STILL))
    if out.suffix.lower() == ".mp4":
        import_cv2(f"--out={out} (an .mp4 video)")  # before any work
    if out.suffix.lower() == STILL and args.video:
        raise ValueError("--video draws animations; use an --out ending in .gif or .mp4")
    size = parse_size(args.size) if args.size else None
    clip = load_clip(args.keypoints)
    glosses = None
    if args.workdir:
        glosses = recognised_glosses(
            clip, args.workdir, args.stage, f"--keypoints={args.keypoints}"
        )
    if out.suffix.lower() == STILL:
        sheet = rendering.contact_sheet(clip, glosses, tile=size or (320, 240))
        sheet.save(out)
        return f"{out}: {sheet.width}x{sheet.height}, 6 frames of {len(clip)}"
    indices = rendering.frame_indices(len(clip), args.fps)  # (pictures,) keypoint frames
    backgrounds = itertools.repeat(None)
    if args.video:
        backgrounds, size = read_video(args.video, indices / kp.FPS, size)
    size = size or rendering.DEFAULT_SIZE
    frames = (  # drawn one at a time as the writer takes them
        rendering.render_frame(clip, int(index), glosses, size, background)
        for index, background in zip(indices, backgrounds, strict=False)  # repeat: endless
    )
    count = write_animation(frames, out, args.fps)
    names = " ".join(g.name for g in glosses) if glosses is not None else "(no --workdir)"
    return f"{out}: {count} frames at {args.fps:g} fps, {len(clip)} keypoint frames; {names}"


def draw_curves(args) -> str:
    """``--workdir``'s training curves -> ``--out`` (.png)."""
    from whispersign_jax.pictures import curves_image

    if not args.workdir:
        raise ValueError("--curves needs --workdir=DIR, a training workdir")
    out = check_out(args.out, (STILL,))
    folders = curves_image.stage_folders(args.workdir)
    stages = {folder.name: curves_image.read_curves(folder) for folder in folders}
    size = parse_size(args.size) if args.size else (960, 640)
    curves_image.render_curves(stages, title=str(args.workdir), size=size).save(out)
    return f"{out}: curves of {', '.join(stages)}"


@one_line_errors
def run_command(args) -> None:
    """The command line's work; ``args`` has the flags as attributes (absl FLAGS in use)."""
    if bool(args.keypoints) == bool(args.curves):
        raise SystemExit("error: pass --keypoints=F.npy (a clip) or --curves (training curves).")
    print(draw_curves(args) if args.curves else draw_clip(args))


FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command line's flags (defined by ``run``, not on import)."""
    flags.DEFINE_string("keypoints", "", "A (T, J, 7) keypoint .npy file to draw.")
    flags.DEFINE_string(
        "out", None, "Output: .gif or .mp4 (animation), .png (still).", required=True
    )
    flags.DEFINE_string(
        "workdir", "", "Training workdir: recognise the clip's glosses, or with --curves its logs."
    )
    flags.DEFINE_string("stage", "", "Stage whose best checkpoint recognises (default: the last).")
    flags.DEFINE_string("video", "", "Draw over this video's frames (needs OpenCV).")
    flags.DEFINE_float("fps", rendering.DEFAULT_FPS, "Animation frames per second (<= 60).")
    flags.DEFINE_string(
        "size", "", "Picture WIDTHxHEIGHT (default 640x480, a video's aspect with --video)."
    )
    flags.DEFINE_bool("curves", False, "Draw the training curves of --workdir.")


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # checkpoint loading is chatty at INFO
    run_command(FLAGS)


def run() -> None:
    """The ``whispersign-visualize`` console script."""
    define_flags()
    cli.run_absl(main)


if __name__ == "__main__":
    run()
