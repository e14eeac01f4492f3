"""The tests' tiny trained WhisperSign: over-fitted to 12 continuous synthetic clips (1-3 of 4
glosses) until both heads know every clip with a wide margin, so that tests of decoders,
recognisers, exports and streaming hold on any CPU (tests/README.md, "Hardware-independent
tests").

Why a margin and not a step count: XLA's float results differ in the last bits between CPU
models (YNNPACK's matmul kernels dispatch on the CPU at run time), and a model trained for a
fixed number of steps lands somewhere else on each. Trained here with a decaying learning
rate to the end, it converges on every numeric path tried; ``converged_margins`` checks it in
inference mode (BatchNorm's running statistics, as the recognisers use them) and the
fixture fails, saying so, when a clip is not known with the margin.
"""

from __future__ import annotations

import numpy as np

STEPS = 600  # warm-up and cosine decay of the learning rate
PEAK_LEARNING_RATE = 5e-3
EXTRA_STEPS = 200  # per extra round at a low constant rate, when a clip lacks the margin
MAX_EXTRA_ROUNDS = 3
FRAMES = 224  # (batch, FRAMES) padded training batch; the longest clip has 150 frames
MAX_LABELS = 3
# Each clip's gloss sequence must have probability > exp(-MAX_NLL) = 0.90 under the CTC head
# (summed over alignments) and under the attention decoder (teacher-forced, with <eos>), in
# inference mode. Measured after STEPS on the default and the three other numeric paths
# (tests/README.md): the worst clip's whole-sequence NLL is 0.039-0.042 (CTC) and
# 0.005-0.007 (attention).
MAX_NLL = 0.1


def training_clips():
    """The 12 clips (2 signers x 6 sentences of 1-3 of 4 glosses) and their vocabulary."""
    from whispersign_jax.data import synthetic
    from whispersign_jax.vocab import Vocabulary

    data = synthetic.SyntheticConfig(
        num_glosses=4, mode="continuous", min_glosses=1, max_glosses=3, train_signers=2,
        continuous_samples_per_signer=6, seed=3,
    )  # fmt: skip
    return synthetic.generate_split(data, "train"), Vocabulary.from_names(
        synthetic.gloss_names(data)
    )


def padded_batch(clips):
    """keypoints (n, FRAMES, 42, 7), frame_mask (n, FRAMES), labels and label_mask (n, 3)."""
    keypoints = np.zeros((len(clips), FRAMES, 42, 7), np.float32)
    frame_mask = np.zeros((len(clips), FRAMES), bool)
    labels = np.zeros((len(clips), MAX_LABELS), np.int32)
    for row, clip in enumerate(clips):
        length = min(FRAMES, len(clip.keypoints))
        keypoints[row, :length], frame_mask[row, :length] = clip.keypoints[:length], True
        labels[row, : len(clip.labels)] = clip.labels
    return keypoints, frame_mask, labels, labels > 0


def sequence_nlls(model, variables, batch):
    """Per clip, in inference mode: -log p(labels) under CTC and under the attention decoder,
    each (n,)."""
    import jax

    from whispersign_jax.model.targets import teacher_forcing
    from whispersign_jax.training import losses

    keypoints, frame_mask, labels, label_mask = batch
    inputs, targets, target_mask = teacher_forcing(labels, label_mask, model.config.num_glosses)
    outputs = model.apply(variables, keypoints, frame_mask, inputs, train=False)
    ctc_per_gloss, _ = losses.ctc_per_sample(
        outputs["ctc_logits"], outputs["encoder_mask"], labels, label_mask
    )
    ctc = ctc_per_gloss * label_mask.sum(axis=1)
    per_token = losses.attention_per_token(outputs["decoder_logits"], targets)  # (n, L + 1)
    attention = (per_token * target_mask).sum(axis=1)
    return jax.device_get((ctc, attention))


def train_tiny_model():
    """A ``trained.TrainedModel`` over-fitted to ``training_clips()``, the clips, and the
    worst clip's NLL under each head (the caller checks it against MAX_NLL). Trains STEPS,
    then up to MAX_EXTRA_ROUNDS more rounds while some clip lacks the margin."""
    import jax
    import ml_collections
    import optax

    from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
    from whispersign_jax.model.targets import teacher_forcing
    from whispersign_jax.runs import trained
    from whispersign_jax.training import losses

    clips, vocabulary = training_clips()
    batch = padded_batch(clips)
    keypoints, frame_mask, labels, label_mask = batch
    config = ModelConfig(
        num_glosses=len(vocabulary.glosses), d_model=32, encoder_layers=1, decoder_layers=1,
        num_heads=2, ffn_dim=64, dropout=0.0, channel_dropout=0.0,
    )  # fmt: skip
    model = WhisperSign(config)
    variables = init_variables(model, jax.random.key(0))
    schedule = optax.join_schedules(
        [
            optax.warmup_cosine_decay_schedule(
                0.0, PEAK_LEARNING_RATE, STEPS // 10, STEPS, PEAK_LEARNING_RATE / 100
            ),
            optax.constant_schedule(PEAK_LEARNING_RATE / 20),  # the extra rounds
        ],
        [STEPS],
    )
    optimizer = optax.adam(schedule)
    inputs, targets, target_mask = teacher_forcing(labels, label_mask, config.num_glosses)

    def loss_fn(params, batch_stats):
        outputs, updates = model.apply(
            {"params": params, "batch_stats": batch_stats}, keypoints, frame_mask, inputs,
            train=True, mutable=["batch_stats"],
        )  # fmt: skip
        loss, _ = losses.hybrid_loss(outputs, labels, label_mask, targets, target_mask, 0.5)
        return loss, updates["batch_stats"]

    @jax.jit
    def step(params, batch_stats, opt_state):
        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch_stats)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), batch_stats, opt_state, loss

    params, batch_stats = variables["params"], variables["batch_stats"]
    opt_state = optimizer.init(params)
    steps = 0
    for round_steps in [STEPS] + [EXTRA_STEPS] * MAX_EXTRA_ROUNDS:
        for _ in range(round_steps):
            params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state)
        steps += round_steps
        variables = {"params": params, "batch_stats": batch_stats}
        ctc, attention = sequence_nlls(model, variables, batch)
        if max(ctc.max(), attention.max()) < MAX_NLL:
            break
    run = trained.TrainedModel(
        model=model,
        variables=variables,
        vocabulary=vocabulary,
        config=ml_collections.ConfigDict({"final_loss": float(loss)}),
        stage="tiny",
        step=steps,
        metrics={},
    )
    return run, clips, {"ctc": float(ctc.max()), "attention": float(attention.max())}
