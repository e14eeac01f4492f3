"""A trained model as a self-contained folder to share: the way the field shares models.

    models/vsl/
      model.safetensors   the variables, float32, training layout ("params/encoder/...")
      whispersign.json    model config, label map, preprocessing, joint set, stage, step,
                          metrics, the training data settings and the package version
      README.md           the model card (Hugging Face front matter: data, metrics, use, limits)

``write`` makes one from a trained model (``whispersign-export --format=model``), ``load``
reads one back, ``resolve`` turns a Hugging Face hub id into the folder in the Hugging Face
cache, and ``push`` uploads a folder (``--push_to_hub``). ``trained.load`` takes all three
forms, so ``recognize``, ``export``, ``serve`` and the Python API do too.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from whispersign_jax import __version__
from whispersign_jax import keypoints as kp
from whispersign_jax.cli import strict_json
from whispersign_jax.model import hub

if TYPE_CHECKING:
    from whispersign_jax.runs.trained_model import TrainedModel

WEIGHTS_FILE = "model.safetensors"
SETTINGS_FILE = "whispersign.json"
CARD_FILE = "README.md"
FILES = (WEIGHTS_FILE, SETTINGS_FILE, CARD_FILE)
FORMAT = "whispersign-model"
FORMAT_VERSION = 1


looks_like_hub_id = hub.looks_like_hub_id


def is_model_folder(path: str | Path) -> bool:
    return (Path(path) / SETTINGS_FILE).is_file()


def resolve(source: str | Path, revision: str = "") -> Path:
    """A local model folder, or a hub id's folder in the Hugging Face cache (downloaded once;
    offline from the cache)."""
    if not hub.looks_like_hub_id(source):
        return Path(source).expanduser()
    try:
        return hub.snapshot(str(source), revision, FILES)
    except hub.HubError as err:
        if err.reason == "not_found":
            raise FileNotFoundError(
                f"{source}: no such folder, and {err}; pass a training workdir, a model folder "
                "(whispersign-export --format=model) or the hub id of one."
            ) from err
        raise FileNotFoundError(
            f"Model {source!r}: {err}. Download it once while online (`hf download {source}`), "
            "or pass a local model folder."
        ) from err


# ---- writing ----------------------------------------------------------------------------
def flat_arrays(variables: dict[str, Any]) -> dict[str, np.ndarray]:
    """``{"params/encoder/.../kernel": float32 array}`` of a variables tree."""
    from flax import traverse_util

    flat = traverse_util.flatten_dict(variables, sep="/")
    return {key: np.asarray(value, np.float32) for key, value in sorted(flat.items())}


def settings(model: TrainedModel, training: dict[str, Any] | None = None) -> dict[str, Any]:
    """whispersign.json: everything besides the weights that recognition needs, and the facts
    the model card reports."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "whispersign_jax_version": __version__,
        "model_config": dataclasses.replace(
            model.model.config, dtype=model.trained_dtype
        ).to_dict(),
        "label_map": model.vocabulary.label_map(),
        "preprocessing": model.preprocessor.to_dict(),
        "joint_set": model.joint_set,
        "stage": model.stage,
        "step": model.step,
        "validation_metrics": model.metrics,
        "training": training or {},
    }


def write(model: TrainedModel, out: str | Path, training: dict[str, Any] | None = None) -> Path:
    """Writes the model folder of a float32-loaded ``model`` (``trained.load(..., dtype=
    "float32")``: the training layout) into ``out``; ``training`` describes its data and test
    results for the card. Files land whole: each is written beside and renamed."""
    from safetensors.numpy import save_file

    if model.model.config.dtype != "float32":
        raise ValueError("Write a model folder from a model loaded with dtype='float32'.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    arrays = flat_arrays(model.variables)
    bad = [key for key, value in arrays.items() if not np.isfinite(value).all()]
    if bad:
        raise ValueError(f"The model has non-finite weights ({bad[:3]}); it is not shareable.")
    values = settings(model, training)
    partial = out / (WEIGHTS_FILE + ".partial")
    save_file(arrays, str(partial), metadata={"format": FORMAT})
    partial.replace(out / WEIGHTS_FILE)
    _write_text(out / SETTINGS_FILE, strict_json.dumps(values, ensure_ascii=False, indent=1))
    _write_text(out / CARD_FILE, model_card(values, arrays))
    return out


def write_trained(model: TrainedModel, source: str | Path, out: str | Path) -> Path:
    """The model folder of ``model``, loaded in float32 from ``source`` (a training workdir
    or a checkpoint folder: ``trained.load(source, stage, dtype="float32")``), with the run's
    data settings and its latest test evaluation on the card."""
    workdir = next(
        (p for p in (Path(source), *Path(source).parents) if (p / "config.json").is_file()), None
    )
    return write(model, out, training_facts(model, workdir, Path(out).name))


def training_facts(model: TrainedModel, workdir: Path | None, name: str) -> dict[str, Any]:
    """The card's facts of a run: its data settings, config and test evaluation (the newest
    ``whispersign-evaluate`` report of this stage and step, if any)."""
    config = without_local_paths(model.config.to_dict() if model.config else {})
    data = config.get("data", {})
    summary = {key: data[key] for key in DATA_FACTS if data.get(key) not in (None, "")}
    test = {}
    reports = sorted((workdir / "eval").glob("test-*/metrics.json")) if workdir else []
    for report in sorted(reports, key=lambda path: path.stat().st_mtime):
        values = json.loads(report.read_text(encoding="utf-8"))
        if (values.get("stage"), values.get("step")) == (model.stage, model.step):
            test = {key: value for key, value in values.items() if key in TEST_FACTS}
    return {"name": name, "data": summary, "test_metrics": test, "config": config}


def without_local_paths(config: dict[str, Any]) -> dict[str, Any]:
    """The run's config as a shared folder may show it: the folders of the trainer's machine
    (data, caches, checkpoints, Whisper weights) cut to their last name; hub ids stay."""
    config = json.loads(json.dumps(config))  # a deep copy of plain values
    config.pop("compile_cache_dir", None)
    data = config.get("data", {})
    for holder, key in ((data, "dir"), (data, "tfds_dir"), (config, "init_checkpoint"),
                        (config, "pretrained")):  # fmt: skip
        value = holder.get(key)
        if isinstance(value, str) and value and not hub.looks_like_hub_id(value):
            holder[key] = Path(value).name
    return config


DATA_FACTS = ("source", "dir", "name", "keypoints")
TEST_FACTS = ("decoder", "accuracy", "top5_accuracy", "wer", "substitutions", "insertions",
              "deletions", "samples")  # fmt: skip


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(path)


def _metrics_table(metrics: dict[str, Any]) -> list[str]:
    rows = [
        f"| {name} | {value:.4g} |" if isinstance(value, float) else f"| {name} | {value} |"
        for name, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    return ["| metric | value |", "| --- | --- |", *rows] if rows else ["(none recorded)"]


def model_card(values: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    """README.md: Hugging Face front matter, then data, metrics, intended use and limits."""
    config, training = values["model_config"], values["training"]
    glosses = [name for name, i in sorted(values["label_map"].items(), key=lambda kv: kv[1])][1:]
    parameters = sum(int(np.prod(a.shape)) for key, a in arrays.items() if key.startswith("params"))
    shown = ", ".join(glosses[:40]) + (
        f", ... ({len(glosses)} in all)" if len(glosses) > 40 else ""
    )
    test = training.get("test_metrics") or {}
    lines = [
        "---",
        "library_name: whispersign-jax",
        "tags: [sign-language, sign-language-recognition, jax, flax, whisper, ctc, mediapipe]",
        "metrics: [accuracy, wer]",
        "---",
        "",
        f"# {training.get('name') or 'WhisperSign model'}",
        "",
        "A WhisperSign-JAX sign-language recogniser: MediaPipe keypoints of the "
        f"`{values['joint_set']}` joint set in, a sequence of glosses out (CTC and Whisper "
        "attention decoder). Made with `whispersign-export --format=model` from the "
        f"{values['stage']} checkpoint at step {values['step']} (whispersign-jax "
        f"{values['whispersign_jax_version']}).",
        "",
        "## Use",
        "",
        "```bash",
        "# with WhisperSign-JAX installed (pip install -e . in its repository):",
        "whispersign-recognize --workdir=THIS_FOLDER_OR_HUB_ID --keypoints=clip.npy",
        "whispersign-recognize --workdir=THIS_FOLDER_OR_HUB_ID --video=clip.mp4   # MediaPipe",
        "whispersign-serve --workdir=THIS_FOLDER_OR_HUB_ID   # live in the browser",
        "```",
        "",
        "In Python: `from whispersign_jax.recognize import Recognizer; "
        "Recognizer.load('THIS_FOLDER_OR_HUB_ID').recognize(keypoints)`, with keypoints "
        f"`(T, {config['num_joints']}, 7)` at {kp.FPS} FPS (`whispersign-extract` makes them "
        "from a video).",
        "",
        "## Model",
        "",
        f"- {parameters / 1e6:.1f} M parameters: d_model {config['d_model']}, "
        f"{config['encoder_layers']} encoder and {config['decoder_layers']} decoder layers, "
        f"{config['num_heads']} heads; trained in {config['dtype']}.",
        f"- Vocabulary: {len(glosses)} glosses: {shown}.",
        "",
        "## Training data",
        "",
        *[f"- {key}: {value}" for key, value in (training.get("data") or {}).items()],
        *([] if training.get("data") else ["- (not recorded)"]),
        "",
        "## Metrics",
        "",
        "Validation, at the checkpoint chosen (CTC greedy decoding):",
        "",
        *_metrics_table(values["validation_metrics"] or {}),
        "",
        "Test split of the training data"
        + (
            f" ({test['decoder']} decoding):"
            if test.get("decoder")
            else " (`whispersign-evaluate --split=test` before the export fills this in):"
        ),
        "",
        *_metrics_table(test),
        "",
        "## Intended use and limits",
        "",
        "- Recognises only the glosses listed above, from MediaPipe keypoints; a sign outside "
        "the vocabulary is read as the nearest one it knows.",
        "- Accuracy holds for signers, cameras and signing like the training data; measured "
        "only on the test split above. Check it on your own recordings before relying on it.",
        "- Frames where MediaPipe finds no hands carry no information; poor light, occlusion "
        "and motion blur lower accuracy.",
        "- It transcribes glosses; it does not translate sign language into spoken-language "
        "sentences. Not for decisions about people (medical, legal, hiring).",
        "",
    ]
    return "\n".join(lines)


# ---- reading ----------------------------------------------------------------------------
def read_settings(folder: Path) -> dict[str, Any]:
    path = folder / SETTINGS_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable model settings ({error}).") from error
    if not isinstance(values, dict) or values.get("format") != FORMAT:
        raise ValueError(f"{path} is not a WhisperSign model folder's {SETTINGS_FILE}.")
    if values.get("format_version", math.inf) > FORMAT_VERSION:
        raise ValueError(
            f"{path} is format {values.get('format_version')}, newer than this version of "
            f"whispersign-jax reads ({FORMAT_VERSION}); upgrade whispersign-jax."
        )
    return values


def load(folder: str | Path, dtype: str | None = None) -> TrainedModel:
    """The TrainedModel of a model folder; ``dtype`` overrides the compute dtype."""
    import jax
    import ml_collections
    from flax import traverse_util
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from whispersign_jax.data.normalize import Preprocessor
    from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
    from whispersign_jax.runs.trained_model import TrainedModel, inference_variables
    from whispersign_jax.vocab import Vocabulary

    folder = Path(folder)
    values = read_settings(folder)
    model_config = ModelConfig.from_dict(values["model_config"])
    trained_dtype = model_config.dtype
    if dtype:
        model_config = dataclasses.replace(model_config, dtype=dtype)
    model = WhisperSign(model_config)
    expected = traverse_util.flatten_dict(
        jax.eval_shape(lambda: init_variables(model, jax.random.key(0))), sep="/"
    )
    weights = folder / WEIGHTS_FILE
    try:
        arrays = load_file(str(weights))
    except (OSError, SafetensorError) as error:
        raise ValueError(f"{weights}: unreadable weights ({error}); download it again.") from error
    if set(arrays) != set(expected):
        missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
        raise ValueError(
            f"{weights} does not match {SETTINGS_FILE}'s model: missing {missing[:3]}, "
            f"unexpected {extra[:3]}."
        )
    for key, spec in expected.items():
        if arrays[key].shape != spec.shape:
            raise ValueError(
                f"{weights}: {key} has shape {arrays[key].shape}, the model needs {spec.shape}."
            )
    variables = traverse_util.unflatten_dict(
        {key: jax.numpy.asarray(arrays[key], spec.dtype) for key, spec in expected.items()},
        sep="/",
    )
    return TrainedModel(
        model=model,
        variables=inference_variables(variables, model_config.dtype),
        vocabulary=Vocabulary.from_label_map(values["label_map"], source=str(folder)),
        config=ml_collections.ConfigDict(values.get("training", {}).get("config", {})),
        stage=str(values["stage"]),
        step=int(values["step"]),
        metrics=values.get("validation_metrics") or {},
        preprocessor=Preprocessor.from_dict(values["preprocessing"]),
        joint_set=values["joint_set"],
        trained_dtype=trained_dtype,
    )


# ---- sharing ----------------------------------------------------------------------------
def push(folder: str | Path, repo_id: str, private: bool = False) -> str:
    """Uploads a model folder to the Hugging Face Hub (creating the repository); needs a
    token (``hf auth login`` or HF_TOKEN). Returns the repository's address."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    read_settings(folder)  # only whole model folders go up
    api = HfApi()
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            allow_patterns=list(FILES),
            commit_message="Upload a WhisperSign-JAX model",
        )
    except Exception as error:  # huggingface_hub's and its HTTP client's errors, one line
        raise OSError(
            f"Uploading {folder} to the Hugging Face Hub as {repo_id!r} failed "
            f"({type(error).__name__}: {error}); log in with `hf auth login` (or set HF_TOKEN) "
            "and check the connection. The folder is complete: run again to upload it."
        ) from error
    return str(url)
