"""Settings for small datasets (a few hundred to a few thousand clips), all three stages.

    python scripts/prepare_vsl_data.py --format mp_data \
        --data_dir ../shared/fixtures/mp_data_asl --output_dir data/mp
    python -m whispersign_jax.main --config=configs/small_data.py --workdir=runs/small \
        --config.data.dir=data/mp
    python -m whispersign_jax.evaluate --workdir=runs/small --split=test

(or ``--config.data.source=tfds --config.data.name=mp_data`` for a TFDS build).
A smaller model than ``base`` (d_model 256, 4 heads, 4 + 4 layers, MLP 1024) with more
dropout (0.2) and short warm-ups, so a few hundred clips do not overfit it at once; budgets
that follow the data (docs/design.md, "Training budgets"), and half of the batches of
stages 2 and 3 joined into sentences of two clips. Expected result on the MP_Data fixture
(16 ASL words, 320 clips of 20 frames by three people), over three splits: test
accuracy about 0.97 with the default attention rescoring (chance: 0.06) and 0.94 with CTC
greedy (which inserts a second gloss on 3 of 96 clips), in 6-9 minutes on a 2-core CPU.
A few thousand clips stop at the step caps: on the traduttore ASL set (33 classes, 4,693
clips, three split seeds), test accuracy 0.989-0.991 (mean 0.990; CTC greedy 0.991) in
14-15 min with bfloat16 compute on a 2-core Intel Xeon with AMX. Before the joined clips
and the whole schedule: 0.985-0.991 (mean 0.988) in bfloat16, 0.987-0.991 (mean 0.989) in
float32; a weight average (``ema_decay=0.999``) did not help (docs/benchmarks.md,
"Isolated signs on the traduttore set"). ``--config.pretrained`` would replace these
sizes with the checkpoint's own.
"""

from whispersign_jax.cli.config_files import sibling
from whispersign_jax.model.config import cpu_compute_dtype

default = sibling(__file__, "default")


def get_config():
    config = default.get_config()
    config.model.size = "custom"
    config.model.d_model = 256
    config.model.num_heads = 4
    config.model.encoder_layers = 4
    config.model.decoder_layers = 4
    config.model.ffn_dim = 1024
    config.model.dropout = 0.2
    config.model.channel_dropout = 0.2
    # bfloat16 matmuls (float32 weights and sums) where the CPU has them: the same accuracy,
    # 1.15-1.3x the steps per second on traduttore; elsewhere float32 (docs/benchmarks.md).
    config.model.dtype = cpu_compute_dtype()
    config.data.source = "processed"  # or tfds with --config.data.name
    config.data.buckets = (32, 64, 128, 192, 256, 384)  # short clips are common
    config.log_every_steps = 20
    config.checkpoint_every_steps = 200
    # Budgets that follow the data: the epochs of the default schedule for a few hundred
    # clips, step caps for a few thousand (about 15 CPU-minutes in all), validation by
    # steps. Every stage runs its whole cosine schedule: early stopping on the validation
    # loss ended stage 2 on its plateau at high rates, before the decay that gives the last
    # clips (docs/benchmarks.md, "Isolated signs on the traduttore set").
    config.eval_every_steps = 200
    config.early_stopping.patience = 0  # never stop early
    config.early_stopping.min_delta = 0.01  # a 1% lower loss counts as progress, if enabled
    for name in ("stage1", "stage2", "stage3"):
        stage = config.stages[name]
        stage.warmup_steps = 50  # a few epochs of a small dataset, not 500 steps
        stage.batch_size = 16
    config.stages.stage1.max_steps = 2000
    # No Whisper weights here: stage 2 trains a randomly initialised encoder and decoder,
    # which needs a higher rate than fine-tuning Whisper's (the default 5e-5).
    config.stages.stage2.lr = 3e-4
    config.stages.stage2.warmup_steps = 200
    config.stages.stage2.max_steps = 4000
    # Half of the batches of stages 2 and 3 are sentences of two clips (data/batching.py):
    # the model learns where one sign ends and the next begins.
    config.stages.stage2.join_share = 0.5
    config.stages.stage3.join_share = 0.5
    config.stages.stage3.lr = 3e-5
    config.stages.stage3.max_steps = 1000
    config.stages.stage3.window_seconds = 1.5  # short clips: windows shorter than most
    config.stages.stage3.overlap_seconds = 0.75
    return config
