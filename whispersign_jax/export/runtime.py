"""Recognition with an exported model and nothing of JAX: the model files run in ai-edge-litert
(or tflite_runtime), onnxruntime or TensorFlow, the decoders in NumPy
(``decoding.numpy_decoders``), preprocessing and gloss names come from the export's metadata.

``ExportedRecognizer.load(folder).recognize(keypoints (T, J, 7))`` returns the same
``Recognition`` as ``recognize.Recognizer`` on the model that was exported. Nothing is
trusted unchecked: the metadata passes ``schema.check_metadata``, each model file its
recorded SHA-256 before it is opened and the metadata's shapes once it is; a file the runtime
still cannot load or run is one ``ModelFileError``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from whispersign_jax.decoding import numpy_decoders
from whispersign_jax.decoding.inputs import checked_clip, padded_batch
from whispersign_jax.decoding.options import CTC_ONLY, DecodeOptions, padded_frames
from whispersign_jax.decoding.result import Recognition, to_recognitions
from whispersign_jax.errors import ModelFileError, one_line
from whispersign_jax.export import schema
from whispersign_jax.export.bundle import ExportBundle, scorer_signature

Shapes = dict[str, list]  # input or output name -> declared shape (None or -1: dynamic)


def default_threads() -> int:
    """CPU threads of the runtimes: the cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def unreadable_model(path: Path, runtime: str, error: Exception) -> ModelFileError:
    return ModelFileError(
        f"{path}: {runtime} cannot load this file ({one_line(error)}); it is damaged or not "
        f"an export of this project: {schema.AGAIN}."
    )


def failed_run(path: Path, runtime: str, error: Exception) -> ModelFileError:
    return ModelFileError(
        f"{path}: {runtime} failed to run this model ({one_line(error)}); {schema.AGAIN}."
    )


class TfliteModel:
    """One ``.tflite`` file; called through one of its signatures."""

    def __init__(self, path: Path, threads: int, spinning: bool = False):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            try:
                from tflite_runtime.interpreter import Interpreter
            except ImportError:
                raise ImportError(
                    f"{path}: running a TFLite export needs ai-edge-litert "
                    "(pip install ai-edge-litert) or tflite_runtime."
                ) from None
        self.path = path
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
            self.signatures = self.interpreter.get_signature_list()
        except Exception as error:  # the runtime's own types: a damaged or foreign file
            raise unreadable_model(path, "TFLite", error) from error
        self.runners = {}

    def runner(self, signature: str):
        if signature not in self.signatures:
            raise ModelFileError(
                f"{self.path}: has no signature {signature} (it has "
                f"{', '.join(sorted(self.signatures)) or 'none'}): the file and "
                f"{schema.METADATA_FILE} disagree; {schema.AGAIN}."
            )
        if signature not in self.runners:
            try:
                self.runners[signature] = self.interpreter.get_signature_runner(signature)
            except Exception as error:
                raise unreadable_model(self.path, "TFLite", error) from error
        return self.runners[signature]

    def shapes(self, signature: str) -> tuple[Shapes, Shapes]:
        """The declared shapes of ``signature``'s inputs and outputs."""
        runner = self.runner(signature)
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        return (
            {name: d["shape_signature"].tolist() for name, d in inputs.items()},
            {name: d["shape_signature"].tolist() for name, d in outputs.items()},
        )

    def __call__(self, signature: str, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        runner = self.runner(signature)
        try:
            return runner(**inputs)
        except Exception as error:  # the interpreter's own types
            raise failed_run(self.path, "TFLite", error) from error


class OnnxModel:
    """One ``.onnx`` file in ONNX Runtime's CPU provider."""

    def __init__(self, path: Path, threads: int, spinning: bool = False):
        try:
            import onnxruntime
        except ImportError:
            raise ImportError(
                f"{path}: running an ONNX export needs onnxruntime (pip install onnxruntime)."
            ) from None
        self.path = path
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only
        # Idle threads spin a while after each run: the next run starts sooner (CTC greedy,
        # base int8, 2 cores: 3.9 instead of 5.5 ms), but they take the cores from the NumPy
        # search between encoder and scorer (rescoring: 72 instead of 40 ms).
        options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning)))
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime's own types (InvalidProtobuf, Fail, ...)
            raise unreadable_model(path, "ONNX Runtime", error) from error
        self.names = [output.name for output in self.session.get_outputs()]

    def shapes(self, signature: str) -> tuple[Shapes, Shapes]:
        """The declared shapes of the inputs and outputs (``signature`` is ignored)."""
        return (
            {node.name: list(node.shape) for node in self.session.get_inputs()},
            {node.name: list(node.shape) for node in self.session.get_outputs()},
        )

    def __call__(self, signature: str, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        """``signature`` is ignored: an ONNX file holds one function."""
        try:
            outputs = self.session.run(None, inputs)
        except Exception as error:  # onnxruntime's own types
            raise failed_run(self.path, "ONNX Runtime", error) from error
        return dict(zip(self.names, outputs, strict=True))


class SavedModel:
    """One SavedModel folder through its ``serving_default`` signature (TensorFlow)."""

    def __init__(self, path: Path, threads: int, spinning: bool = False):
        import tensorflow as tf

        self.path = path
        with contextlib.suppress(RuntimeError):  # TF already ran in this process: keep its pool
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        try:
            self.signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        except Exception as error:  # TensorFlow's own types, or no such signature
            raise unreadable_model(path, "TensorFlow", error) from error

    def shapes(self, signature: str) -> tuple[Shapes, Shapes]:
        """The declared shapes of the inputs and outputs (``signature`` is ignored)."""
        _, inputs = self.signature.structured_input_signature
        outputs = self.signature.structured_outputs
        return (
            {name: spec.shape.as_list() for name, spec in inputs.items()},
            {name: spec.shape.as_list() for name, spec in outputs.items()},
        )

    def __call__(self, signature: str, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        """``signature`` is ignored: a SavedModel export serves one function."""
        try:
            outputs = self.signature(**inputs)
        except Exception as error:  # TensorFlow's own types
            raise failed_run(self.path, "TensorFlow", error) from error
        return {name: value.numpy() for name, value in outputs.items()}


RUNTIMES = {"tflite": TfliteModel, "onnx": OnnxModel, "saved_model": SavedModel}


class ExportedModel:
    """The two exported functions of a folder (docs/deployment.md): ``encode`` and ``score``.
    The scorer (the attention decoder) is opened on first use; each model is opened only when
    its files have their recorded SHA-256, and checked against the metadata's shapes.
    ``spinning``: the runtime's idle threads may busy-wait for the next call (ONNX Runtime;
    faster back-to-back encoder calls, but they slow NumPy work between calls; off when a
    scorer is used)."""

    def __init__(self, folder: str | Path, threads: int | None = None, spinning: bool = False):
        self.folder = Path(folder)
        self.bundle = ExportBundle.load(self.folder)
        self.folder = self.folder if self.folder.is_dir() else self.folder.parent
        self.metadata = self.folder / schema.METADATA_FILE
        self.threads = threads or default_threads()
        self.spinning = spinning
        self.encoder = self._open(self.bundle.encoder_file)
        path = self.folder / self.bundle.encoder_file
        schema.check_encoder(self.bundle, self.metadata, path, *self.encoder.shapes("encode"))
        self._scorer = None

    def _open(self, name: str):
        """Model ``name`` in its runtime, once its files have their recorded SHA-256."""
        self.bundle.check_files(self.folder, name)
        return RUNTIMES[self.bundle.format](self.folder / name, self.threads, self.spinning)

    @property
    def scorer(self):
        """The scorer's runtime, opened and checked against the metadata on first use."""
        if self._scorer is None:
            scorer = self._open(self.bundle.scorer_file)
            path = self.folder / self.bundle.scorer_file
            for length in self.bundle.scorer_lengths or [None]:
                inputs, _ = scorer.shapes(scorer_signature(length))
                schema.check_scorer(self.bundle, self.metadata, path, length, inputs)
            self._scorer = scorer
        return self._scorer

    def encode(self, keypoints: np.ndarray, frame_mask: np.ndarray) -> dict[str, np.ndarray]:
        """keypoints (1, T, J, 7) float32, frame_mask (1, T) bool -> ``ctc_logits`` (1, P, C),
        ``encoder_out`` (1, P, d), ``encoder_mask`` (1, P)."""
        return self.encoder("encode", keypoints=keypoints, frame_mask=frame_mask)

    def score(self, ids, lengths, encoder_out, encoder_mask) -> np.ndarray:
        """ids (K, L), lengths (K,) -> log p_attention of each hypothesis (K,). A fixed-shape
        scorer takes ``bundle.beam_size`` hypotheses at one of ``bundle.scorer_lengths``:
        the shortest that holds the longest hypothesis; rows and columns are padded or cut
        here (padding never changes a score)."""
        scorer = self.scorer  # opened first: its checks explain a scorer that disagrees
        ids, lengths = np.asarray(ids, np.int32), np.asarray(lengths, np.int32)
        beam, signature = len(ids), scorer_signature(None)
        if self.bundle.scorer_lengths is not None:
            longest = max(1, int(lengths.max(initial=0)))
            fits = [n for n in self.bundle.scorer_lengths if n >= longest]
            if beam > self.bundle.beam_size or not fits:
                raise ValueError(
                    f"{self.folder}: the exported scorer takes {self.bundle.beam_size} "
                    f"hypotheses of up to {max(self.bundle.scorer_lengths)} glosses, got {beam} "
                    f"of up to {longest}; lower --beam_size or export with a larger --beam_size."
                )
            width = fits[0]
            padded = np.zeros((self.bundle.beam_size, width), np.int32)
            padded[:beam, : min(width, ids.shape[1])] = ids[:, :width]
            ids, lengths = padded, np.pad(lengths, (0, self.bundle.beam_size - beam))
            signature = scorer_signature(width)
        scores = scorer(
            signature,
            ids=ids,
            lengths=lengths,
            encoder_out=np.asarray(encoder_out, np.float32),
            encoder_mask=np.asarray(encoder_mask, bool),
        )["log_likelihoods"]
        return np.asarray(scores, np.float32)[:beam]


class ExportedRecognizer:
    """An exported model plus a NumPy decoder: ``recognize(keypoints (T, J, 7))``."""

    def __init__(self, model: ExportedModel, options: DecodeOptions | None = None):
        self.model = model
        self.bundle = model.bundle
        self.options = options or DecodeOptions()
        self.vocabulary = self.bundle.vocabulary
        self.preprocessor = self.bundle.preprocessor

    @classmethod
    def load(cls, folder: str | Path, threads: int | None = None, **options) -> ExportedRecognizer:
        """From an export folder; ``options`` are DecodeOptions fields. CTC-only decoders
        never run the scorer: the runtime may keep its threads spinning between calls."""
        options = DecodeOptions(**options)
        return cls(ExportedModel(folder, threads, options.decoder in CTC_ONLY), options)

    @property
    def max_frames(self) -> int:
        """The longest clip one call takes: the fixed window, else the model's limit."""
        return self.bundle.window_frames or self.bundle.max_frames

    def recognize(self, clip: np.ndarray, source: str = "keypoints") -> Recognition:
        """Glosses of one clip of raw keypoints (preprocessing is applied here)."""
        joint_set = self.bundle.joint_set
        model = f"the exported model (joint set {joint_set})"
        advice = "recognise it as a stream (--stream), or export a SavedModel (any length)"
        clip = checked_clip(clip, source, joint_set, model, self.max_frames, advice)
        clip = self.preprocessor(clip)
        as_recognized = padded_frames(len(clip), self.bundle.max_frames)  # what recognize pads to
        batch, frame_mask = padded_batch(clip, self.bundle.window_frames or as_recognized)
        encoded = self.model.encode(batch, frame_mask)
        log_probs = numpy_decoders.log_softmax(encoded["ctc_logits"][0])  # (P, C)
        valid = np.asarray(encoded["encoder_mask"][0], bool)
        if not np.isfinite(log_probs[valid]).all():
            raise ModelFileError(
                f"{self.model.folder / self.bundle.encoder_file}: gave non-finite CTC logits for "
                f"{source}; the model is damaged: {schema.AGAIN}."
            )

        def attention_scores(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
            return self.model.score(ids, lengths, encoded["encoder_out"], encoded["encoder_mask"])

        max_glosses = self.options.glosses_for(-(-as_recognized // self.bundle.patch_size))
        outputs = numpy_decoders.decode(
            log_probs, valid, self.options, max_glosses, attention_scores
        )
        return to_recognitions(
            outputs,
            self.vocabulary,
            self.options.decoder,
            self.bundle.patch_size,
            np.array([len(clip)]),
        )[0]
