"""Serve the live-recognition page: sign to the camera and read the glosses, all in the browser.

    python -m whispersign_jax.serve --workdir=runs/demo [--port=8000] [--host=127.0.0.1]
        [--export_dir=runs/demo/export/web] [--hand_model=hand_landmarker.task] [--assets=DIR]
        [--allow_host=NAME[,NAME...]]

``--workdir`` is a training workdir, a model folder or the hub id of one (whose web export goes
to $WHISPERSIGN_CACHE/web_exports unless ``--export_dir`` says where).
The model is exported for the web into ``--export_dir`` first when that export is missing or
stale. MediaPipe's tasks-vision and onnxruntime-web are downloaded from npm once into
$WHISPERSIGN_CACHE/web (``--assets=DIR`` serves a copy of that folder instead, offline), the
hand landmarker once into $WHISPERSIGN_CACHE. Browsers allow the camera only on localhost or
https. The server answers only to the loopback names and ``--host``; a page reached under
another name (a proxy's, this machine's on the network) needs ``--allow_host=NAME``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from absl import app, flags, logging

from whispersign_jax import cli
from whispersign_jax.extraction.model_file import HAND_MODEL, cache_dir, ensure_model
from whispersign_jax.runs import model_folder
from whispersign_jax.serve.assets import ensure_assets, vendored_assets
from whispersign_jax.serve.server import StaticServer, serve

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string(
        "workdir", None, "Training workdir, model folder or its hub id.", required=True
    )
    flags.DEFINE_integer("port", 8000, "Port to listen on (0: any free port).")
    flags.DEFINE_string("host", "127.0.0.1", "Address to listen on.")
    flags.DEFINE_multi_string(
        "allow_host",
        [],
        "Host names (repeat the flag or separate them with commas) the server answers to "
        "besides localhost, 127.0.0.1, [::1] and --host: the name of a proxy or of this "
        "machine on the network.",
    )
    flags.DEFINE_string("export_dir", "", "Web export folder (default: WORKDIR/export/web).")
    flags.DEFINE_string(
        "hand_model", "", "MediaPipe hand_landmarker.task (default: the cached one, downloaded)."
    )
    flags.DEFINE_string("assets", "", "Folder of vendored npm packages laid out like the cache.")
    flags.DEFINE_bool("verbose", False, "Log every request, not only failed ones.")


def start_server(
    workdir: Path,
    *,
    export_dir: Path | None = None,
    hand_model: Path | None = None,
    assets: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    verbose: bool = False,
    allowed_hosts: Sequence[str] = (),
) -> StaticServer:
    """Everything before serving: the hand model, the vendored libraries and the web export
    (made when missing or stale), then the bound server."""
    workdir = model_folder.resolve(workdir)  # a hub id: its folder in the Hugging Face cache
    if not workdir.is_dir():
        raise FileNotFoundError(f"--workdir {workdir}: no such folder.")
    hand_model = ensure_model(hand_model, model=HAND_MODEL)
    vendored = vendored_assets(assets) if assets else ensure_assets()
    from whispersign_jax.export.web import ensure_web_export

    export_dir = ensure_web_export(workdir, export_dir or default_export_dir(workdir))
    try:
        return serve(
            export_dir,
            hand_model,
            vendored,
            host=host,
            port=port,
            verbose=verbose,
            allowed_hosts=allowed_hosts,
        )
    except FileNotFoundError:
        raise
    except OSError as error:  # the port is taken, or needs privileges
        raise OSError(f"Cannot listen on {host}:{port} ({error}); pass another --port.") from None


def default_export_dir(workdir: Path) -> Path:
    """WORKDIR/export/web for a training workdir; for a model folder (perhaps in the Hugging
    Face cache, which is not ours to write in) a folder of our own cache."""
    if not model_folder.is_model_folder(workdir):
        return workdir / "export" / "web"
    digest = hashlib.sha1(str(workdir.resolve()).encode()).hexdigest()[:12]
    return cache_dir() / "web_exports" / f"{workdir.name}-{digest}"


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    server = start_server(
        Path(FLAGS.workdir),
        export_dir=Path(FLAGS.export_dir) if FLAGS.export_dir else None,
        hand_model=Path(FLAGS.hand_model) if FLAGS.hand_model else None,
        assets=Path(FLAGS.assets) if FLAGS.assets else None,
        host=FLAGS.host,
        port=FLAGS.port,
        verbose=FLAGS.verbose,
        allowed_hosts=[name for name in ",".join(FLAGS.allow_host).split(",") if name.strip()],
    )
    print(f"Open {server.url} in a browser (Ctrl+C stops the server).")
    print(
        "Browsers allow the camera only on localhost or https: open it on this machine, or "
        "reach it through an https proxy or an SSH tunnel to localhost."
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def run() -> None:
    define_flags()
    cli.run_absl(main)


if __name__ == "__main__":
    run()
