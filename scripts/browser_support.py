"""What the browser tests need outside Python: Debian's Chromium (driven by Playwright),
ffmpeg (the fixture clip as the y4m file Chromium's fake camera plays) and Node.js (the
page's modules against their Python twins). They are installed with apt-get where the tests
run as root; elsewhere the tests skip and say why. ``scripts/benchmark.py --only browser``
drives the page with the same pieces."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# command -> Debian package
PACKAGES = {"chromium": "chromium", "ffmpeg": "ffmpeg", "node": "nodejs"}
APT_TIMEOUT_S = 600


def missing_tools() -> list[str]:
    return [command for command in PACKAGES if shutil.which(command) is None]


def ensure_tools() -> str | None:
    """Installs the PACKAGES that are absent; None when all are there, else the reason they
    are not."""
    missing = missing_tools()
    if not missing:
        return None
    if shutil.which("apt-get") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return (
            f"{', '.join(missing)} not installed and this is not a root shell with apt-get; "
            f"install them (apt-get install chromium ffmpeg nodejs) to run the browser tests"
        )
    packages = [PACKAGES[command] for command in missing]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    for command in (install, ["apt-get", "update", "-q"], install):  # update only if needed
        result = subprocess.run(
            command, capture_output=True, text=True, env=environment, timeout=APT_TIMEOUT_S
        )
        if result.returncode == 0 and command[1] == "install":
            break
    missing = missing_tools()
    if missing:
        return f"apt-get could not install {', '.join(missing)}: {result.stderr.strip()[-500:]}"
    return None


def chromium_path() -> str:
    return shutil.which("chromium")


def fake_camera_file(video: Path, out: Path) -> Path:
    """The video as raw y4m (yuv420p, the frames exactly as decoded) for
    ``--use-file-for-fake-video-capture``."""
    if not out.is_file():
        command = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(video)]
        subprocess.run([*command, "-pix_fmt", "yuv420p", str(out)], check=True, timeout=120)
    return out


def chromium_arguments(camera_file: Path) -> list[str]:
    """Headless Chromium with a fake webcam playing ``camera_file`` in a loop, permission
    granted without a prompt."""
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_file}",
        "--no-sandbox",
        "--autoplay-policy=no-user-gesture-required",
    ]


def open_page(browser, url: str, timeout_ms: float) -> tuple:
    """A new page at ``url`` once its model has loaded: (page, a list that collects the page's
    uncaught errors and every response from a server other than ``url``'s)."""
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    errors = []
    origin = "/".join(url.split("/")[:3]) + "/"
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "requestfinished",
        lambda request: (
            request.url.startswith((origin, "blob:", "data:"))
            or errors.append(f"the page reached {request.url}")
        ),
    )
    page.goto(url)
    page.wait_for_function(
        "window.whisperSign && whisperSign.status !== 'loading'", timeout=timeout_ms
    )
    status = page.evaluate("whisperSign.status")
    if status != "ready":
        raise RuntimeError(f"{url}: the page did not load its model: {status}; {errors}")
    return page, errors
