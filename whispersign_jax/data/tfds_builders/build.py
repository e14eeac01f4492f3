"""Builds one of this project's TFDS datasets.

    python -m whispersign_jax.data.tfds_builders.build --name mp_data --manual_dir MP_Data \
        [--data_dir ~/tensorflow_datasets]

The manual folder holds the downloaded source (TFDS's manual-download convention); the
dataset is written as array_record under ``data_dir``.
"""

from __future__ import annotations

import argparse

FILE_FORMAT = "array_record"


def build(name: str, manual_dir: str | None = None, data_dir: str | None = None, config=None):
    """Prepares ``name`` (``NAME`` or ``NAME/CONFIG``) and returns the builder."""
    import tensorflow_datasets as tfds

    from whispersign_jax.data import tfds_builders  # noqa: F401  (registers the builders)

    kwargs = {"data_dir": data_dir} if data_dir else {}
    if config is not None:
        kwargs["config"] = config
    builder = tfds.builder(name, try_gcs=False, **kwargs)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir),
        file_format=FILE_FORMAT,
    )
    return builder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="builder name, e.g. mp_data")
    parser.add_argument("--manual_dir", default=None, help="folder with the downloaded source")
    parser.add_argument("--data_dir", default=None, help="TFDS data folder")
    args = parser.parse_args()
    builder = build(args.name, args.manual_dir, args.data_dir)
    print(f"{builder.name}: {builder.info.splits} in {builder.data_dir}")


if __name__ == "__main__":
    main()
