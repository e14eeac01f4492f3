"""The quick demo's synthetic clips written as a corpus on disk, for the tests that train
real processes on a corpus (multihost, kill and resume)."""

from pathlib import Path


def write_demo_corpus(root: Path) -> list[str]:
    """Writes ``configs/demo.py:quick``'s clips as a corpus at ``root``; returns the config
    overrides that train on it (the same clips in the same order as the synthetic source)."""
    from configs import demo
    from whispersign_jax.data.corpus.jobs import ClipMaker, synthetic_jobs, write_jobs
    from whispersign_jax.data.corpus.writer import CorpusWriter
    from whispersign_jax.data.sources import synthetic_config

    clips = synthetic_config(demo.get_config("quick").data)
    with CorpusWriter(root, "hands") as writer:
        write_jobs(synthetic_jobs(clips), writer, ClipMaker("hands", synthetic=clips))
    return ["--config.data.source=corpus", f"--config.data.dir={root}"]
