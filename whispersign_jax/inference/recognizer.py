"""``Recognizer``: a trained model plus a decoder, keypoints in, glosses out.

JAX loads inside the methods that use it, so that commands importing this answer ``--help`` at
once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from whispersign_jax import decoding
from whispersign_jax.decoding import DecodeOptions, Recognition
from whispersign_jax.decoding.inputs import checked_clip, padded_batch
from whispersign_jax.decoding.options import padded_frames
from whispersign_jax.inference import streaming

if TYPE_CHECKING:
    from whispersign_jax.runs.trained import TrainedModel


class Recognizer:
    """A trained model plus a decoder: ``recognize(keypoints (T, J, 7)) -> Recognition``, with
    J the joints of the model's joint set (``TrainedModel.joint_set``)."""

    def __init__(self, model: TrainedModel, options: DecodeOptions | None = None):
        self.trained = model
        self.options = options = options or DecodeOptions()
        self._decode = decoding.make_decode_fn(model.model, options)

    @classmethod
    def load(
        cls, path: str | Path, stage: str | None = None, dtype: str | None = None, **options
    ) -> Recognizer:
        """From a workdir or checkpoint folder; ``dtype`` overrides the compute dtype;
        ``options`` are DecodeOptions fields."""
        from whispersign_jax.runs import trained

        return cls(trained.load(path, stage, dtype), DecodeOptions(**options))

    @property
    def max_frames(self) -> int:
        config = self.trained.model.config
        return config.max_source_positions * config.patch_size

    def recognize(self, clip: np.ndarray, source: str = "keypoints") -> Recognition:
        """Glosses of one clip of raw keypoints (preprocessing is applied here); keypoints of
        another joint set than the model's are refused, naming both."""
        joint_set = self.trained.joint_set
        model = f"the model (config.data.keypoints={joint_set})"
        advice = "recognise it as a stream (--stream) instead"
        clip = checked_clip(clip, source, joint_set, model, self.max_frames, advice)
        clip = self.trained.preprocessor(clip)
        batch, frame_mask = padded_batch(clip, padded_frames(len(clip), self.max_frames))
        import jax

        outputs = jax.device_get(self._decode(self.trained.variables, batch, frame_mask))
        return decoding.to_recognitions(
            outputs,
            self.trained.vocabulary,
            self.options.decoder,
            self.trained.model.config.patch_size,
            np.array([len(clip)]),
        )[0]

    def streaming(self, **kwargs) -> streaming.StreamingRecognizer:
        """A sliding-window recogniser on this model (``streaming.StreamingRecognizer``)."""
        return streaming.StreamingRecognizer(self, **kwargs)
