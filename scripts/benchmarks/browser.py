"""The browser suite (``--only browser``, issue 15): the live page in headless Chromium.

``browser.<size>.<decoder>.*`` for the ``--browser_size`` model (default base; random
weights, ``models.random_model``) exported for the web with CTC greedy and with the default
decoder, served by ``whispersign_jax.serve`` to headless Chromium whose fake webcam plays
``data/samples/signing_clip.mp4`` in a loop. Per 3 s window through features.onnx, the
encoder and the decoders in ONNX Runtime Web (WebAssembly), as the page measures it
(``performance.now``):

- ``{features,encoder,decode,total}_p50_ms`` and ``total_p95_ms`` (windows after the first);
- ``first_window_ms``: the first window, ONNX Runtime's warm-up included;
- ``windows``: windows measured; ``track_p50_ms``: MediaPipe hands per camera frame.

``browser.skipped``: why nothing ran (no Chromium or Playwright, ``scripts/browser_support.py``;
or the clip is absent).
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from benchmarks.common import SAMPLE_CLIP, p50, p95, progress
from benchmarks.extract import side_env_hand_model
from benchmarks.models import random_model
from whispersign_jax.decoding import DEFAULT_DECODER, DecodeOptions

TIMEOUT_MS = 300_000
PAGE_PARTS = ("features", "encoder", "decode", "total")


def benchmark_browser(size: str, windows: int = 12) -> dict[str, float | str]:
    """``browser.<size>.<decoder>.*`` for CTC greedy and the default decoder."""
    results: dict[str, float | str] = {}
    for decoder in ("ctc_greedy", DEFAULT_DECODER):
        results.update(browser_run(size, decoder, windows))
    return results


def page_log(size: str, decoder: str, windows: int) -> tuple[list[dict], list[float]]:
    """The page's timings of at least ``windows`` windows (None for a window without them)
    and its hand-tracking times per frame, with the ``size`` model exported with ``decoder``."""
    import browser_support  # scripts/browser_support.py
    from playwright.sync_api import sync_playwright

    from whispersign_jax.export.web import export_web
    from whispersign_jax.serve.assets import ensure_assets
    from whispersign_jax.serve.server import serve

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "export").mkdir()
        model, options = random_model(size, "float32"), DecodeOptions(decoder=decoder)
        export_web(model, scratch / "export", options=options, source=f"random {size}")
        _, hand_model = side_env_hand_model(scratch)
        server = serve(scratch / "export", hand_model, ensure_assets(), port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        camera = browser_support.fake_camera_file(SAMPLE_CLIP, scratch / "clip.y4m")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=browser_support.chromium_path(),
                headless=True,
                args=browser_support.chromium_arguments(camera),
            )
            page, errors = browser_support.open_page(chromium, f"{server.url}?record=1", TIMEOUT_MS)
            page.click("#camera")
            page.wait_for_function(
                f"whisperSign.log.windows.filter((w) => w.timings).length >= {windows}",
                timeout=TIMEOUT_MS,
            )
            page.evaluate("whisperSign.stop()")
            timings = page.evaluate("whisperSign.log.windows.map((w) => w.timings)")
            track_ms = page.evaluate("whisperSign.log.frames.map((f) => f.track_ms)")
            chromium.close()
        server.shutdown()
        server.server_close()
    if errors:
        raise RuntimeError(f"the page failed: {errors}")
    return timings, track_ms


def browser_run(size: str, decoder: str, windows: int) -> dict[str, float | str]:
    """``browser.<size>.<decoder>.*`` of one exported decoder, or ``browser.skipped``."""
    import browser_support  # scripts/browser_support.py

    reason = browser_support.ensure_tools()
    if reason or not SAMPLE_CLIP.is_file():
        return {"browser.skipped": reason or f"{SAMPLE_CLIP} is absent"}
    timings, track_ms = page_log(size, decoder, windows)
    timings = [t for t in timings if t]
    prefix = f"browser.{size}.{decoder}"
    results: dict[str, float | str] = {f"{prefix}.first_window_ms": timings[0]["total_ms"]}
    for part in PAGE_PARTS:
        results[f"{prefix}.{part}_p50_ms"] = p50(t[f"{part}_ms"] for t in timings[1:])
    results[f"{prefix}.total_p95_ms"] = p95(t["total_ms"] for t in timings[1:])
    results[f"{prefix}.windows"] = float(len(timings))
    results[f"{prefix}.track_p50_ms"] = p50(track_ms)
    progress(
        f"{prefix}: window p50 {results[f'{prefix}.total_p50_ms']:.1f} ms, hand tracking "
        f"{results[f'{prefix}.track_p50_ms']:.1f} ms/frame"
    )
    return results
