"""A Google Cloud Storage emulator on localhost (the ``gcp-storage-emulator`` package) that
gcsfs (``etils.epath``'s ``gs://`` backend), TensorStore (Orbax's array writes) and
ArrayRecord's GCS reader (google-cloud-cpp, corpus shards) all talk to, so that ``gs://``
workdirs and corpora are tested without a network or an account.

Not reached: TensorFlow's ``tf.io.gfile`` (which etils prefers when TensorFlow is installed;
the tests switch etils to gcsfs with ``EPATH_USE_TF=false``)."""

from __future__ import annotations

import contextlib
import logging
import socket

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gcs_emulator(monkeypatch, bucket: str = "bucket"):
    """Yields the emulator's URL while ``gs://<bucket>/...`` reaches it; the bucket starts
    empty."""
    emulator = pytest.importorskip("gcp_storage_emulator.server")
    gcsfs = pytest.importorskip("gcsfs")
    from etils.epath import gpath

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)  # gcsfs
    monkeypatch.setenv("TENSORSTORE_GCS_HTTP_URL", url)  # TensorStore's gcs driver
    monkeypatch.setenv("CLOUD_STORAGE_EMULATOR_ENDPOINT", url)  # ArrayRecord (google-cloud-cpp)
    monkeypatch.setenv("GOOGLE_AUTH_TOKEN_FOR_TESTING", "emulator")  # TensorStore: no account
    monkeypatch.setenv("EPATH_USE_TF", "false")  # etils: gcsfs, not tf.io, in new processes
    monkeypatch.setattr(gpath, "_is_tf_installed", lambda: False)  # and here (a cached answer)
    for name in ("gcp_storage_emulator", "gcsfs", "google"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.ERROR)
    server = emulator.create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    server.start()
    gcsfs.GCSFileSystem.clear_instance_cache()  # no client bound to an earlier port
    try:
        yield url
    finally:
        server.stop()
        gcsfs.GCSFileSystem.clear_instance_cache()
