"""A trained model -> TFLite, SavedModel or ONNX files plus their metadata (needs JAX and the
converters: TensorFlow for TFLite and SavedModel, jax2onnx and onnxruntime for ONNX).

Two functions are exported, both float32 in and out:

- encoder: keypoints (1, T, J, 7) float32, frame_mask (1, T) bool -> ctc_logits (1, P, C),
  encoder_out (1, P, d_model), encoder_mask (1, P) bool, with P = T / patch_size;
- scorer: ids (K, L) int32, lengths (K,) int32, encoder_out, encoder_mask ->
  log_likelihoods (K,): log p_attention(g1 .. gn <eos>) of each hypothesis (the attention
  decoder's share of rescoring, ``attention.sequence_log_likelihood``).

Routes (docs/deployment.md says why): TFLite through ``jax2tf`` with graph serialization
(``native_serialization=False``: the TFLite converter reads TF ops, not the StableHLO of
native serialization) and the TFLite converter; ONNX through ``jax2onnx`` (a maintained
direct JAX -> ONNX converter; its ``pad`` cannot take symbolic lengths yet); both at the fixed
streaming window. SavedModel through ``jax2tf`` native serialization, any length (shape
polymorphism).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from whispersign_jax.decoding.attention import sequence_log_likelihood
from whispersign_jax.decoding.options import DecodeOptions, length_buckets
from whispersign_jax.export.bundle import ExportBundle, scorer_signature
from whispersign_jax.keypoints import FPS, NUM_FEATURES
from whispersign_jax.model import WhisperSign
from whispersign_jax.runs import trained

DYNAMIC_FORMATS = ("saved_model",)  # the others take the fixed streaming window (see above)
ONNX_OPSET = 21  # ONNX Runtime 1.32 and ONNX Runtime Web run it (jax2onnx's default is 23)


@dataclasses.dataclass(frozen=True)
class ExportFunctions:
    """The two float32 JAX functions an export holds, on one trained model."""

    encode: Callable
    score: Callable
    num_joints: int
    d_model: int


def export_functions(model: trained.TrainedModel) -> ExportFunctions:
    """The encoder and scorer functions of a model loaded in float32."""
    module, variables = model.model, model.variables

    def encode(keypoints, frame_mask):
        encoder_out, encoder_mask, ctc_logits = module.apply(
            variables, keypoints, frame_mask, method=WhisperSign.encode
        )
        return ctc_logits.astype(jnp.float32), encoder_out.astype(jnp.float32), encoder_mask

    def score(ids, lengths, encoder_out, encoder_mask):
        return sequence_log_likelihood(
            module, variables, encoder_out, encoder_mask, ids[None], lengths[None]
        )[0]

    config = module.config
    return ExportFunctions(encode, score, config.num_joints, config.d_model)


@dataclasses.dataclass(frozen=True)
class Shapes:
    """Input shapes of the two functions; None marks a dynamic dimension."""

    frames: int | None
    positions: int | None
    beam: int | None
    scorer_lengths: tuple[int | None, ...]  # hypothesis lengths the scorer is exported at


def fixed_shapes(window_frames: int, patch_size: int, options: DecodeOptions, fmt: str) -> Shapes:
    """The streaming window's shapes: the scorer takes the rescoring n-best of one window,
    in TFLite at every length bucket of rescoring (one signature each, sharing the weights:
    a one-gloss n-best costs a one-gloss decoder pass, as in JAX), in ONNX at the longest."""
    positions = -(-window_frames // patch_size)
    rescoring = dataclasses.replace(options, decoder="attention_rescoring")
    longest = rescoring.glosses_for(positions)
    lengths = length_buckets(longest) if fmt == "tflite" else [longest]
    return Shapes(window_frames, positions, options.beam_size, tuple(lengths))


DYNAMIC_SHAPES = Shapes(None, None, None, (None,))


def export_model(
    path: str | Path,
    out: str | Path,
    fmt: str,
    dtype: str = "float32",
    stage: str | None = None,
    **kwargs,
) -> ExportBundle:
    """Exports the best checkpoint of a workdir (or a checkpoint folder) into folder ``out``;
    ``kwargs`` as ``export_trained``'s."""
    model = trained.load(path, stage, dtype="float32")
    return export_trained(model, out, fmt, dtype, source=str(path), **kwargs)


def export_trained(
    model: trained.TrainedModel,
    out: str | Path,
    fmt: str,
    dtype: str = "float32",
    window_s: float = 3.0,
    options: DecodeOptions | None = None,
    source: str = "",
) -> ExportBundle:
    """Exports a float32 model into folder ``out`` (created; the files of an earlier export
    there are replaced) and returns its metadata, which records each model file's SHA-256.
    TFLite takes ``window_s`` of frames and the rescoring n-best of ``options``; the other
    formats take any length."""
    options = options or DecodeOptions()
    config = model.model.config
    if jnp.dtype(config.dtype) != jnp.float32:
        raise ValueError(f"export_trained needs a float32 model, got {config.dtype}.")
    max_frames = config.max_source_positions * config.patch_size
    window_frames = min(max_frames, round(window_s * FPS / config.patch_size) * config.patch_size)
    shapes = fixed_shapes(window_frames, config.patch_size, options, fmt)
    if fmt in DYNAMIC_FORMATS:  # any length: the runtime pads to whole seconds (`recognize`)
        shapes = DYNAMIC_SHAPES
    bundle = ExportBundle(
        format=fmt,
        dtype=dtype,
        label_map=model.vocabulary.label_map(),
        preprocessing=model.preprocessor.to_dict(),
        joint_set=model.joint_set,
        num_joints=config.num_joints,
        patch_size=config.patch_size,
        max_frames=max_frames,
        window_frames=shapes.frames,
        beam_size=shapes.beam,
        scorer_lengths=None if fmt in DYNAMIC_FORMATS else list(shapes.scorer_lengths),
        source={"path": source, "stage": model.stage, "step": model.step},
    )
    converter = {"tflite": to_tflite, "saved_model": to_saved_model, "onnx": to_onnx}[fmt]
    sizes = (config.patch_size, config.max_source_positions)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    functions = export_functions(model)
    with tempfile.TemporaryDirectory(dir=out) as staging:  # a failed export leaves no half files
        staging = Path(staging)
        encoder = {"encode": encoder_specs(functions, shapes)}
        scorer = {
            scorer_signature(length): scorer_specs(functions, shapes, length)
            for length in shapes.scorer_lengths
        }
        converter(functions.encode, encoder, staging / bundle.encoder_file, dtype, *sizes)
        converter(functions.score, scorer, staging / bundle.scorer_file, dtype, *sizes)
        for name in (bundle.encoder_file, bundle.scorer_file):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            (staging / name).replace(target)
    bundle = dataclasses.replace(bundle, sha256=bundle.digests(out))
    bundle.save(out)
    return bundle


def encoder_specs(functions: ExportFunctions, shapes: Shapes) -> list[tuple]:
    """(name, shape, numpy dtype) of the encoder's inputs."""
    frames = shapes.frames
    return [
        ("keypoints", (1, frames, functions.num_joints, NUM_FEATURES), np.float32),
        ("frame_mask", (1, frames), np.bool_),
    ]


def scorer_specs(functions: ExportFunctions, shapes: Shapes, length: int | None) -> list[tuple]:
    """(name, shape, numpy dtype) of the scorer's inputs for hypotheses of ``length``."""
    return [
        ("ids", (shapes.beam, length), np.int32),
        ("lengths", (shapes.beam,), np.int32),
        ("encoder_out", (1, shapes.positions, functions.d_model), np.float32),
        ("encoder_mask", (1, shapes.positions), np.bool_),
    ]


OUTPUT_NAMES = {
    "encode": ("ctc_logits", "encoder_out", "encoder_mask"),
    "score": ("log_likelihoods",),
}


def constraints(max_positions: int) -> list[str]:
    """What the symbolic dimensions promise: the encoder's position limit."""
    return [f"p <= {max_positions}"]


def symbolic_shape(name: str, shape: tuple, patch_size: int) -> tuple:
    """``shape`` with its dynamic dimensions named: frames come in whole patches (``P*p``,
    which the runtime's padding to whole seconds guarantees), p encoder positions, k
    hypotheses of l glosses."""
    symbols = {"keypoints": ("1", f"{patch_size}*p"), "frame_mask": ("1", f"{patch_size}*p"),
               "ids": ("k", "l"), "lengths": ("k",), "encoder_out": ("1", "p"),
               "encoder_mask": ("1", "p")}[name]  # fmt: skip
    return tuple(symbols[i] if dim is None else str(dim) for i, dim in enumerate(shape))


def _named(fn: Callable) -> Callable:
    """``fn`` returning a dict of its outputs by name (SavedModel signatures)."""
    names = OUTPUT_NAMES[fn.__name__]

    def named(*args):
        outputs = fn(*args)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return dict(zip(names, outputs, strict=True))

    return named


def require(module: str, purpose: str):
    """``import module``, or an ImportError saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f'{purpose} needs {module.split(".")[0]}: pip install -e ".[export]" (the browser '
            f'page\'s ONNX export only: ".[web]").'
        ) from None


def _tf_specs(specs: list[tuple]):
    import tensorflow as tf

    return [tf.TensorSpec(shape, tf.as_dtype(dtype), name=name) for name, shape, dtype in specs]


def to_tflite(
    fn: Callable, signatures: dict, path: Path, dtype: str, patch_size: int, max_positions: int
) -> None:
    """A fixed-shape TFLite flatbuffer with one signature per entry of ``signatures`` (their
    weights stored once); ``float16`` stores float16 weights, ``int8`` int8 weights with
    dynamic-range quantisation (activations stay float)."""
    tf = require("tensorflow", "A TFLite export")
    from jax.experimental import jax2tf

    if any(dim is None for specs in signatures.values() for _, shape, _ in specs for dim in shape):
        raise ValueError("TFLite exports have fixed shapes.")
    with warnings.catch_warnings():  # graph serialization is deprecated, and TFLite's route
        warnings.simplefilter("ignore", DeprecationWarning)
        converted = jax2tf.convert(
            _named(fn), native_serialization=False, enable_xla=False, with_gradient=False
        )
    module = tf.Module()
    functions = {}
    for name, specs in signatures.items():
        function = tf.function(converted, autograph=False, input_signature=_tf_specs(specs))
        setattr(module, name, function)
        functions[name] = function.get_concrete_function()
    with tempfile.TemporaryDirectory() as saved:  # signatures by name: through a SavedModel
        tf.saved_model.save(module, saved, signatures=functions)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, list(functions))
        if dtype != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if dtype == "float16":
            converter.target_spec.supported_types = [tf.float16]
        path.write_bytes(converter.convert())


def only_signature(signatures: dict, fmt: str) -> list[tuple]:
    """The specs of a format that holds one function per file."""
    if len(signatures) != 1:
        raise ValueError(f"A {fmt} file holds one signature, got {sorted(signatures)}.")
    return next(iter(signatures.values()))


def to_saved_model(
    fn: Callable, signatures: dict, path: Path, dtype: str, patch_size: int, max_positions: int
) -> None:
    """A SavedModel with a ``serving_default`` signature; dynamic dimensions stay dynamic
    (shape polymorphism), frames in whole patches."""
    tf = require("tensorflow", "A SavedModel export")
    from jax.experimental import jax2tf

    if dtype != "float32":
        raise ValueError(
            f"--dtype={dtype}: SavedModel exports are float32; use --format=tflite or onnx for "
            "float16 / int8."
        )
    specs = only_signature(signatures, "SavedModel")
    polymorphic = [
        "(" + ", ".join(symbolic_shape(name, shape, patch_size)) + ")" if None in shape else None
        for name, shape, _ in specs
    ]
    converted = jax2tf.convert(
        _named(fn),
        polymorphic_shapes=polymorphic,
        polymorphic_constraints=constraints(max_positions),
        with_gradient=False,
    )
    module = tf.Module()
    module.f = tf.function(converted, autograph=False, input_signature=_tf_specs(specs))
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})


def to_onnx(
    fn: Callable, signatures: dict, path: Path, dtype: str, patch_size: int, max_positions: int
) -> None:
    """An ONNX model; ``int8`` quantises weights dynamically (onnxruntime.quantization),
    ``float16`` stores float16 weights and computes in float16 with float32 inputs and
    outputs (onnxruntime's float16 converter)."""
    onnx = require("onnx", "An ONNX export")
    specs = only_signature(signatures, "ONNX")
    scope = jax.export.SymbolicScope(constraints(max_positions))
    inputs = [
        jax.ShapeDtypeStruct(
            jax.export.symbolic_shape(
                ", ".join(symbolic_shape(name, shape, patch_size)), scope=scope
            ),
            dtype,
        )
        for name, shape, dtype in specs
    ]
    names = [name for name, _, _ in specs]
    model = einsums_as_matmuls(onnx_proto(fn, inputs, names, OUTPUT_NAMES[fn.__name__]))
    if dtype == "float16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(model, str(path))
    if dtype == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()  # it advises pre-processing on the root logger: not needed
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(str(path), str(path), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)


def onnx_proto(fn: Callable, inputs: list, input_names, output_names):
    """The ONNX model (a proto) of ``fn`` on ``inputs`` (``jax.ShapeDtypeStruct``s), at
    ``ONNX_OPSET``, through jax2onnx."""
    jax_to_onnx = require("jax2onnx", "An ONNX export").to_onnx
    logging.getLogger("jax2onnx").setLevel(logging.ERROR)  # plugins of other libraries
    logging.getLogger("onnx_ir").setLevel(logging.ERROR)
    with warnings.catch_warnings():  # jax2onnx asks for float64 constants; float32 is kept
        warnings.simplefilter("ignore", UserWarning)
        return jax_to_onnx(
            fn,
            inputs,
            opset=ONNX_OPSET,
            input_names=list(input_names),
            output_names=list(output_names),
            return_mode="proto",
        )


def save_onnx(fn: Callable, inputs: list, input_names, output_names, path: Path) -> None:
    """``onnx_proto`` of ``fn`` saved to ``path``, float32 as traced. The intermediate
    shapes jax2onnx declares are dropped: runtimes infer their own, and ONNX Runtime Web
    refuses a graph where one declared shape disagrees with its inference (seen on
    ``features.onnx``: a broadcast dimension declared 180 where ONNX infers 1)."""
    onnx = require("onnx", "An ONNX export")
    model = onnx_proto(fn, inputs, input_names, output_names)
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def einsums_as_matmuls(model):
    """jax2onnx writes each dense layer ``x @ kernel`` as ``Einsum("abc,cd->abd")``; as
    ``MatMul`` it is the same product, which ONNX Runtime's int8 quantiser (it skips Einsum)
    and its fused kernels know."""
    for node in model.graph.node:
        if node.op_type != "Einsum" or len(node.input) != 2:
            continue
        (equation,) = (a.s.decode() for a in node.attribute if a.name == "equation")
        inputs, output = equation.replace(" ", "").split("->")
        left, right = inputs.split(",")
        if len(right) == 2 and left[-1] == right[0] and output == left[:-1] + right[1]:
            node.op_type = "MatMul"
            del node.attribute[:]
    return model
