"""Exported models against JAX: TFLite (ai-edge-litert), ONNX (onnxruntime) and SavedModel
(TensorFlow), float32 and quantised, on real fixture keypoints and random ones.

Stated tolerances, on CTC logits and attention log-likelihoods, as a fraction of the largest
JAX logit magnitude of the batch: float32 1e-5, float16 weights 5e-3, int8 weights 5e-2.
Glosses: float32 exports give the JAX recogniser's glosses and time spans with every
decoder; quantised exports may change at most one of the 12 training clips' gloss sequences
(measured: none; the demo's test split is in docs/benchmarks.md)."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import load_script, save_as_workdir

from whispersign_jax import recognize
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.decoding.attention import sequence_log_likelihood
from whispersign_jax.decoding.options import DecodeOptions
from whispersign_jax.export import bundle as export_bundle
from whispersign_jax.export import convert, runtime
from whispersign_jax.keypoints import CONFIDENCE

EXPORTS = [
    ("tflite", "float32"),
    ("tflite", "float16"),
    ("tflite", "int8"),
    ("onnx", "float32"),
    ("onnx", "float16"),
    ("onnx", "int8"),
    ("saved_model", "float32"),
]
TOLERANCE = {"float32": 1e-5, "float16": 5e-3, "int8": 5e-2}
WINDOW = 180  # frames of the fixed-window exports (3 s)
DECODERS = ("ctc_greedy", "ctc_prefix_beam", "attention_rescoring")


@pytest.fixture(scope="module")
def export_of(tmp_path_factory, tiny_trained_model):
    """``export_of(fmt, dtype)``: the folder of the tiny model's export, made once."""
    model, _ = tiny_trained_model
    folders = {}

    def export(fmt: str, dtype: str):
        if (fmt, dtype) not in folders:
            folder = tmp_path_factory.mktemp(f"{fmt}-{dtype}")
            convert.export_trained(model, folder, fmt, dtype, source="tiny")
            folders[fmt, dtype] = folder
        return folders[fmt, dtype]

    return export


def real_clips(fixtures_dir) -> list[np.ndarray]:
    """Hand keypoints (40, 42, 7) of four real MP_Data sequences (four glosses)."""
    from whispersign_jax.data.contract import UNTIMED_FPS
    from whispersign_jax.data.prepare import mp_data
    from whispersign_jax.keypoints import FPS

    root = fixtures_dir / "mp_data_asl" / "MP_Data"
    sequences = [sorted(gloss.iterdir())[3] for gloss in sorted(root.iterdir())[1:5]]
    return [mp_data.read_sequence(s, UNTIMED_FPS, FPS, False, str(s)) for s in sequences]


def random_clips(count: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Random (T, 42, 7) keypoints in the contract's ranges, a hand missing at times."""
    rng = np.random.default_rng(seed)
    clips = []
    for length in rng.integers(30, WINDOW + 1, count):
        clip = rng.uniform(0, 1, (length, 42, 7)).astype(np.float32)
        clip[..., CONFIDENCE] = 1.0
        clip[rng.uniform(size=length) < 0.3, :21] = 0.0  # the left hand missing in ~30 %
        clips.append(clip)
    return clips


def window_batch(clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One clip in a (1, WINDOW, 42, 7) batch and its frame mask."""
    batch = np.zeros((1, WINDOW, *clip.shape[1:]), np.float32)
    batch[0, : len(clip)] = clip
    return batch, np.arange(WINDOW)[None, :] < len(clip)


def assert_close(got, want, dtype, what):
    scale = max(1.0, float(np.abs(want).max()))
    error = float(np.abs(np.asarray(got) - np.asarray(want)).max()) / scale
    assert error <= TOLERANCE[dtype], f"{what}: error {error:.2e} of {scale:.1f}"


@pytest.mark.parametrize(("fmt", "dtype"), EXPORTS)
def test_export_logits_match_jax(fmt, dtype, export_of, tiny_trained_model, fixtures_dir):
    model, _ = tiny_trained_model
    exported = runtime.ExportedModel(export_of(fmt, dtype))
    for clip in real_clips(fixtures_dir) + random_clips():
        keypoints, frame_mask = window_batch(clip)
        want_out, want_mask, want_logits = jax.device_get(
            model.model.apply(model.variables, keypoints, frame_mask, method="encode")
        )
        got = exported.encode(keypoints, frame_mask)
        np.testing.assert_array_equal(got["encoder_mask"], want_mask)
        assert_close(got["ctc_logits"][want_mask], want_logits[want_mask], dtype, "ctc logits")
        # The scorer on hypotheses of 0-5 glosses, against attention rescoring's own scores.
        ids = np.random.default_rng(len(clip)).integers(1, 5, (8, 15)).astype(np.int32)
        lengths = np.array([0, 1, 2, 3, 5, 2, 1, 4], np.int32)
        want = sequence_log_likelihood(
            model.model, model.variables, want_out, want_mask, ids[None], lengths[None]
        )[0]
        got_scores = exported.score(ids, lengths, got["encoder_out"], got["encoder_mask"])
        assert_close(got_scores, want, dtype, "attention log-likelihoods")


@pytest.fixture(scope="module")
def jax_recognitions(tiny_trained_model):
    """The JAX recogniser's Recognition of each clip (cut to the window), per decoder."""
    model, clips = tiny_trained_model
    recognizers = {d: recognize.Recognizer(model, DecodeOptions(decoder=d)) for d in DECODERS}
    return {
        decoder: [recognizer.recognize(clip.keypoints[:WINDOW]) for clip in clips]
        for decoder, recognizer in recognizers.items()
    }


@pytest.mark.parametrize("fmt", ["tflite", "onnx", "saved_model"])
def test_export_recognizes_the_same_glosses_as_jax(
    fmt, export_of, tiny_trained_model, jax_recognitions
):
    """Every decoder of the runtime, on the 12 training clips (cut to the 3 s window)."""
    _, clips = tiny_trained_model
    for decoder in DECODERS:
        exported = runtime.ExportedRecognizer.load(export_of(fmt, "float32"), decoder=decoder)
        for clip, want in zip(clips, jax_recognitions[decoder], strict=True):
            got = exported.recognize(clip.keypoints[:WINDOW])
            assert got.ids == want.ids, decoder
            assert [(g.start_frame, g.end_frame) for g in got.glosses] == [
                (g.start_frame, g.end_frame) for g in want.glosses
            ]
            np.testing.assert_allclose(got.score, want.score, rtol=1e-4, atol=1e-4)
            assert got.nbest == want.nbest
    learned = sum(exported.recognize(c.keypoints[:WINDOW]).ids == c.labels.tolist() for c in clips)
    assert learned == len(clips)  # the tiny model knows its clips: the comparison is not vacuous


@pytest.mark.parametrize(("fmt", "dtype"), [e for e in EXPORTS if e[1] != "float32"])
def test_quantised_export_keeps_the_glosses(
    fmt, dtype, export_of, tiny_trained_model, jax_recognitions
):
    _, clips = tiny_trained_model
    quantised = runtime.ExportedRecognizer.load(export_of(fmt, dtype))
    float32 = jax_recognitions[DecodeOptions().decoder]
    changed = sum(
        quantised.recognize(clip.keypoints[:WINDOW]).ids != want.ids
        for clip, want in zip(clips, float32, strict=True)
    )
    assert changed <= 1, f"{changed} of {len(clips)} clips changed"


def test_saved_model_takes_any_length_and_fixed_windows_refuse_longer_clips(
    export_of, tiny_trained_model
):
    model, clips = tiny_trained_model
    long_clip = np.concatenate([clips[0].keypoints, clips[1].keypoints])  # 205 frames > 3 s
    want = recognize.Recognizer(model).recognize(long_clip)
    got = runtime.ExportedRecognizer.load(export_of("saved_model", "float32")).recognize(long_clip)
    # Parity, whatever the tiny model makes of two clips joined (it never saw such a clip).
    assert got.ids == want.ids and want.ids
    spans = [(g.start_frame, g.end_frame) for g in got.glosses]
    assert spans == [(g.start_frame, g.end_frame) for g in want.glosses]
    fixed = runtime.ExportedRecognizer.load(export_of("tflite", "float32"))
    with pytest.raises(
        ValueError, match=r"more than the 180 \(3 s\) that the exported model.*--stream"
    ):
        fixed.recognize(long_clip, "long.npy")


def test_preprocessing_travels_with_the_export(tmp_path, tiny_trained_model):
    """A workdir whose checkpoint carries hand normalisation and standardisation: the
    export's metadata holds them and the runtime applies them like the JAX recogniser."""
    model, clips = tiny_trained_model
    preprocessor = Preprocessor.fit([c.keypoints for c in clips], True, standardize=True)
    workdir = save_as_workdir(model, tmp_path / "run", preprocessor)
    bundle = convert.export_model(workdir, tmp_path / "onnx", "onnx")
    assert bundle.preprocessor == preprocessor and bundle.source["step"] == 200
    assert bundle.vocabulary == model.vocabulary and bundle.window_frames == WINDOW
    exported = runtime.ExportedRecognizer.load(tmp_path / "onnx", decoder="ctc_greedy")
    jax_recognizer = recognize.Recognizer.load(workdir, decoder="ctc_greedy")
    for clip in clips[:4]:
        want = jax_recognizer.recognize(clip.keypoints[:WINDOW])
        got = exported.recognize(clip.keypoints[:WINDOW])
        assert got.ids == want.ids
        np.testing.assert_allclose(got.score, want.score, rtol=1e-4)


def test_export_metadata_errors_name_the_file(tmp_path, export_of):
    with pytest.raises(FileNotFoundError, match=r"whispersign_export.json not found.*--out"):
        runtime.ExportedRecognizer.load(tmp_path)
    folder = export_of("onnx", "float32")
    metadata = json.loads((folder / export_bundle.METADATA_FILE).read_text())
    (tmp_path / export_bundle.METADATA_FILE).write_text(
        json.dumps({**metadata, "format_version": 9})
    )
    with pytest.raises(ValueError, match=r"format version 9.*export the model again"):
        export_bundle.ExportBundle.load(tmp_path)
    (tmp_path / export_bundle.METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(FileNotFoundError, match=r"encoder.onnx not found.*incomplete"):
        runtime.ExportedModel(tmp_path)
    exported = runtime.ExportedModel(folder)
    too_many = np.ones((9, 3), np.int32)
    with pytest.raises(ValueError, match=r"takes 8 hypotheses of up to 15 glosses, got 9 of"):
        exported.score(too_many, np.ones(9, np.int32), None, None)


def test_export_run_prints_what_recognize_prints_without_jax(
    tmp_path, export_of, tiny_trained_model
):
    """The runtime command in a fresh interpreter: same text as ``recognize`` (the JSON too),
    and JAX, TensorFlow and torch never imported."""
    model, clips = tiny_trained_model
    path = tmp_path / "clip.npy"
    np.save(path, clips[2].keypoints[:WINDOW])
    workdir = save_as_workdir(model, tmp_path / "run")
    for fmt, as_json in (("tflite", False), ("onnx", True)):
        code = (
            "import sys\nfrom whispersign_jax.export import run\n"
            "sys.argv = ['run', '--model', sys.argv[1], '--keypoints', sys.argv[2], sys.argv[3]]\n"
            "try:\n    run.run()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print([m for m in ('jax', 'tensorflow', 'torch') if m in sys.modules])\n"
        )
        flag = "--json" if as_json else "--nojson"
        result = subprocess.run(
            [sys.executable, "-c", code, str(export_of(fmt, "float32")), str(path), flag],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        *printed, frameworks = result.stdout.strip().splitlines()
        assert frameworks == "[]"
        want = subprocess.run(
            [sys.executable, "-m", "whispersign_jax.recognize", "--workdir", str(workdir),
             "--keypoints", str(path), flag],
            capture_output=True, text=True,
        )  # fmt: skip
        assert want.returncode == 0, want.stderr
        assert printed == want.stdout.strip().splitlines()
        names = model.vocabulary.names(clips[2].labels.tolist())
        assert " ".join(names) in printed[0]  # the glosses the tiny model knows (p > 0.9)


def test_export_cli_writes_a_folder_and_explains_errors(tmp_path, tiny_trained_model):
    workdir = save_as_workdir(tiny_trained_model[0], tmp_path / "run")
    command = [sys.executable, "-m", "whispersign_jax.export", "--workdir", str(workdir)]
    done = subprocess.run(
        [*command, "--format", "tflite", "--weights_dtype", "int8", "--out", str(tmp_path / "t")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "tflite int8 export of stage2 step 200 (180 frames, 4 glosses)" in done.stdout
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        "encoder.tflite", "scorer.tflite", export_bundle.METADATA_FILE,
    ]  # fmt: skip
    for args, message in [
        (["--format", "saved_model", "--weights_dtype", "int8"], "SavedModel exports are float32"),
        (["--format", "onnx", "--workdir", str(tmp_path / "absent")], "does not exist"),
    ]:
        failed = subprocess.run(
            [*command, *args, "--out", str(tmp_path / "x")], capture_output=True, text=True
        )
        assert failed.returncode == 1
        assert failed.stderr.strip().splitlines()[-1].startswith("error: ")
        assert message in failed.stderr


def test_quantised_exports_keep_the_quick_demo_test_accuracy(tmp_path):
    """``configs/demo.py:quick``, stage 2 trained for 20 epochs here (6 glosses; 54 test clips
    of signers never seen, about 0.3 accuracy): the int8 exports recognise them (CTC greedy,
    the validation decoder) within 0.04 (2 clips) of the JAX float32 accuracy. The full
    demo's figures: docs/benchmarks.md, 'Exported models'."""
    from configs import demo
    from whispersign_jax.training import train

    config = demo.get_config("quick")
    config.run_stages = ("stage2",)
    config.stages.stage2.epochs = 20
    workdir = str(tmp_path / "run")
    train.train_and_evaluate(config, workdir)
    results = load_script("export_accuracy").export_accuracies(
        workdir, "test", "tflite:int8,onnx:int8", "ctc_greedy"
    )
    assert results["clips"] == 54 and results["jax.float32.accuracy"] > 0.2  # it learned
    for fmt in ("tflite", "onnx"):
        drop = results["jax.float32.accuracy"] - results[f"{fmt}.int8.accuracy"]
        assert drop <= 0.04, (fmt, results)
