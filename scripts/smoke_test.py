"""Smoke test: forward pass, hybrid loss and one AdamW step of a small model on random input.

    python scripts/smoke_test.py [--size tiny] [--frames 120] [--batch 2]

Prints the output shapes and the loss before and after the step; exits non-zero on failure.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import optax

from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.model.targets import teacher_forcing
from whispersign_jax.training import losses

NUM_GLOSSES = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", help="Whisper preset (tiny, base, ...)")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()

    config = ModelConfig.preset(args.size, num_glosses=NUM_GLOSSES)
    model = WhisperSign(config)
    variables = init_variables(model, jax.random.key(0))
    params, batch_stats = variables["params"], variables["batch_stats"]
    count = sum(x.size for x in jax.tree.leaves(params))
    print(f"model: {args.size}, {count / 1e6:.1f}M parameters, devices: {jax.devices()}")

    key_points, key_labels = jax.random.split(jax.random.key(1))
    keypoints = jax.random.normal(key_points, (args.batch, args.frames, 42, 7))
    frame_mask = jnp.ones((args.batch, args.frames), bool)
    labels = jax.random.randint(key_labels, (args.batch, 3), 1, NUM_GLOSSES + 1)
    label_mask = jnp.ones_like(labels, bool)
    inputs, targets, target_mask = teacher_forcing(labels, label_mask, NUM_GLOSSES)

    def loss_fn(params):
        outputs, _ = model.apply(
            {"params": params, "batch_stats": batch_stats},
            keypoints,
            frame_mask,
            inputs,
            train=True,
            rngs={"dropout": jax.random.key(2)},
            mutable=["batch_stats"],
        )
        loss, metrics = losses.hybrid_loss(
            outputs, labels, label_mask, targets, target_mask, alpha=0.3
        )
        return loss, (outputs, metrics)

    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-4))
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state):
        (loss, (outputs, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        shapes = {k: v.shape for k, v in outputs.items()}
        return optax.apply_updates(params, updates), opt_state, loss, metrics, shapes

    start = time.perf_counter()
    new_params, opt_state, loss, metrics, _ = step(params, opt_state)
    jax.block_until_ready(loss)
    print(f"first step (compile + run): {time.perf_counter() - start:.1f}s")
    shapes = jax.eval_shape(loss_fn, params)[1][0]
    for name, value in shapes.items():
        print(f"  {name}: {tuple(value.shape)}")
    print({k: round(float(v), 4) for k, v in metrics.items()})
    loss_after = step(new_params, opt_state)[2]
    print(f"loss before step: {float(loss):.4f}, after one step: {float(loss_after):.4f}")
    if not (jnp.isfinite(loss) and jnp.isfinite(loss_after)):
        raise SystemExit("Smoke test failed: the loss is not finite.")
    print("smoke test passed")


if __name__ == "__main__":
    main()
