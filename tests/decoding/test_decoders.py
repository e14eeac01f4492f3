"""The five decoders on the tests' tiny converged model: they recover the signed glosses, and
the special cases of the weighted searches reduce to the plain ones."""

import jax
import numpy as np
import pytest
from tiny_model import padded_batch

from whispersign_jax import decoding
from whispersign_jax.decoding import attention
from whispersign_jax.keypoints import FPS

BEAM = 4


@pytest.fixture(scope="module")
def batch(tiny_trained_model):
    """The model, its 12 clips, keypoints (12, 224, 42, 7) and frame_mask (12, 224)."""
    run, clips = tiny_trained_model
    keypoints, frame_mask, _, _ = padded_batch(clips)
    return run, clips, keypoints, frame_mask


def decode(batch, **options):
    run, _, keypoints, frame_mask = batch
    fn = decoding.make_decode_fn(run.model, decoding.DecodeOptions(beam_size=BEAM, **options))
    return jax.device_get(fn(run.variables, keypoints, frame_mask))


@pytest.fixture(scope="module")
def outputs(batch):
    return {name: decode(batch, decoder=name) for name in decoding.DECODERS}


def sequences(out) -> list[list[int]]:
    return [ids[:n].tolist() for ids, n in zip(out["ids"], out["lengths"], strict=True)]


def test_every_decoder_recovers_every_clip(batch, outputs):
    """The tiny model gives each clip's glosses a probability above 0.9 under both heads (its
    fixture checks it), so no decoder may lose one, on any CPU."""
    _, clips, _, _ = batch
    references = [clip.labels.tolist() for clip in clips]
    for name, out in outputs.items():
        assert sequences(out) == references, name


def test_attention_beam_scores_equal_teacher_forced_scores(batch, outputs):
    run, _, keypoints, frame_mask = batch
    out = outputs["attention_beam"]
    encoder_out, encoder_mask, _ = run.model.apply(
        run.variables, keypoints, frame_mask, method="encode"
    )
    forced = attention.sequence_log_likelihood(
        run.model, run.variables, encoder_out, encoder_mask,
        out["ids"][:, None], out["lengths"][:, None],
    )  # fmt: skip
    np.testing.assert_allclose(out["attention_scores"], forced[:, 0], atol=1e-4)
    np.testing.assert_allclose(out["scores"], out["attention_scores"], atol=1e-5)


def test_weighted_searches_reduce_to_the_plain_ones(batch, outputs):
    joint_attention_only = decode(batch, decoder="joint_beam", ctc_weight=0.0)
    np.testing.assert_array_equal(joint_attention_only["ids"], outputs["attention_beam"]["ids"])
    np.testing.assert_allclose(
        joint_attention_only["scores"], outputs["attention_beam"]["scores"], atol=1e-5
    )
    rescoring_ctc_only = decode(batch, decoder="attention_rescoring", ctc_weight=1.0)
    np.testing.assert_array_equal(rescoring_ctc_only["ids"], outputs["ctc_prefix_beam"]["ids"])


def test_rescoring_combines_ctc_and_attention_scores(outputs):
    out = outputs["attention_rescoring"]
    np.testing.assert_allclose(
        out["scores"], 0.5 * out["ctc_scores"] + 0.5 * out["attention_scores"], rtol=1e-5
    )
    # The chosen hypothesis is one of the CTC n-best and the best combination among them.
    assert np.all(out["ctc_scores"] <= out["nbest_scores"][:, 0] + 1e-5)


def test_recognitions_carry_names_scores_and_time_spans(batch, outputs):
    run, clips, _, frame_mask = batch
    recognitions = decoding.to_recognitions(
        outputs["attention_rescoring"], run.vocabulary, "attention_rescoring",
        run.model.config.patch_size, frame_mask.sum(axis=1),
    )  # fmt: skip
    in_span = []  # per correctly recognised clip: every gloss emitted inside its signing
    for recognition, clip in zip(recognitions, clips, strict=True):
        assert recognition.names == run.vocabulary.names(recognition.ids)
        assert recognition.decoder == "attention_rescoring"
        assert len(recognition.nbest) == BEAM and list(recognition.nbest[0]) in (
            [list(h) for h in recognition.nbest]
        )
        starts = [g.start_frame for g in recognition.glosses]
        assert starts == sorted(starts)
        for gloss in recognition.glosses:
            assert 0 <= gloss.start_frame < gloss.end_frame <= len(clip.keypoints)
            assert gloss.start_s == gloss.start_frame / FPS and 0.0 < gloss.confidence <= 1.0
        if recognition.ids == clip.labels.tolist():
            in_span.append(
                all(
                    start - 30 <= gloss.start_frame < end + 30
                    for gloss, (start, end) in zip(recognition.glosses, clip.spans, strict=True)
                )
            )
    # A tiny model over-fitted with global self-attention may emit a gloss anywhere; most of
    # its emissions still fall inside the signed stretch (within half a second).
    assert len(in_span) >= 6 and np.mean(in_span) >= 0.8, in_span
    as_json = recognitions[0].to_dict()
    assert set(as_json) == {"decoder", "glosses", "text", "scores"}
    assert as_json["text"] == " ".join(recognitions[0].names)
