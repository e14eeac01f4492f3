"""WhisperSign, all three stages at Whisper's `base` size (docs/design.md, "Training").

    python -m whispersign_jax.main --config=configs/default.py --workdir=runs/default \
        --config.pretrained=openai/whisper-base --config.data.source=processed \
        --config.data.dir=data/processed

The guide's schedule: 30 / 100 / 30 epochs, lr 1e-3 / 5e-5 / 1e-5, batch 32 / 16 / 16.
Any field can be overridden on the command line, e.g. `--config.stages.stage2.lr=1e-4`.
Expected result: depends on the dataset; on the built-in synthetic data use configs/demo.py.
"""

import dataclasses

import ml_collections

from whispersign_jax.cli import compile_cache
from whispersign_jax.data.augment import AugmentConfig

ALL_PARAMETERS = (".*",)
FRONTEND_AND_CTC_HEAD = ("frontend/.*", "ctc_head/.*")


def stage(**fields) -> ml_collections.ConfigDict:
    """One row of the stage table; every stage has the same fields."""
    defaults = dict(
        trainable=ALL_PARAMETERS,  # regexes over parameter paths; the rest is frozen
        alpha=0.3,  # loss = alpha * CTC + (1 - alpha) * attention (1.0: CTC only, no decoder)
        lr=5e-5,  # peak learning rate of the warm-up cosine schedule
        warmup_steps=500,
        epochs=100,
        max_steps=0,  # > 0: at most this many steps, whatever the dataset size (0: no cap)
        batch_size=16,  # global batch, split over the mesh's devices
        weight_decay=1e-4,  # AdamW, on kernels and embeddings of trainable parameters
        update_batch_norm=True,  # the frontend's BatchNorm running statistics follow the data
        window_seconds=0.0,  # > 0: train on sliding-window crops of this length
        overlap_seconds=0.0,  # overlap of consecutive windows
        ema_decay=0.0,  # > 0: validate, and keep as best, a moving average of the weights
        # > 0: this share of batches are sentences, each row its clip joined with
        # join_signs - 1 others of the split (both glosses; data/batching.py)
        join_share=0.0,
        join_signs=2,
    )
    return ml_collections.ConfigDict({**defaults, **fields})


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    # Every stage in training order: each starts from the best parameters of the one before
    # it in the same workdir. run_stages: the ones this run trains, in that order.
    config.stage_order = ("stage1", "stage2", "stage3")
    config.run_stages = config.stage_order

    config.model = ml_collections.ConfigDict()
    config.model.size = "base"  # tiny, base, small, medium, large-v3 or custom
    config.model.d_model = 0  # 0: the preset's value; required for size=custom
    config.model.encoder_layers = 0
    config.model.decoder_layers = 0
    config.model.num_heads = 0
    config.model.ffn_dim = 0
    config.model.patch_size = 4  # frames per encoder position (60 FPS -> 15 per second)
    config.model.conv_kernel = 31  # ConvSPE depthwise kernel
    config.model.dropout = 0.1
    config.model.channel_dropout = 0.1
    config.model.dtype = "float32"  # compute dtype: float32 or bfloat16

    # Whisper checkpoint: a Hugging Face or CTranslate2 (faster-whisper) dir, or a hub id
    # (openai/whisper-base); "" = none
    config.pretrained = ""
    config.pretrained_revision = ""  # hub id's branch, tag or commit hash to pin; "" = main
    config.init_checkpoint = ""  # a stage folder of another workdir to start from
    # compiled XLA programs kept across runs; "" = off (default: $WHISPERSIGN_COMPILE_CACHE or
    # ~/.cache/whispersign_jax/xla)
    config.compile_cache_dir = compile_cache.default_directory()

    config.data = ml_collections.ConfigDict()
    # processed, corpus, tfds or synthetic; "" = none named: training stops at once and says what to
    # pass (configs/demo.py trains on the built-in synthetic signs)
    config.data.source = ""
    config.data.dir = ""  # root of the processed layout (data/processed) or of a corpus
    config.data.name = ""  # TFDS builder (source=tfds), e.g. mp_data or whispersign_processed
    config.data.tfds_dir = ""  # TFDS data folder; "" = ~/tensorflow_datasets
    config.data.keypoints = "hands"  # joint set: hands (42), hands_pose (55), hands_pose_lips (95)
    config.data.normalize_hands = False  # clip-level hand centring + bone-length scale
    config.data.standardize = True  # per-feature mean/std of the train split
    config.data.parallel_calls = 2  # threads building training batches
    config.data.prefetch = 2  # batches prepared ahead of the train step
    # who builds the batches: "threads" (parallel_calls threads of this process) or "grain"
    # (grain_workers processes; pays off on a corpus with many cores per accelerator)
    config.data.loader = "threads"
    config.data.grain_workers = 4
    config.data.buckets = (64, 128, 192, 256, 384, 512, 768)  # padded lengths, in frames
    config.data.max_labels = 8  # longest gloss sequence per sample
    config.data.eval_batch_size = 32
    config.data.augment_enabled = True
    # Augmentation strengths: AugmentConfig's defaults and field names (data/augment.py).
    config.data.augment = ml_collections.ConfigDict(dataclasses.asdict(AugmentConfig()))
    config.data.synthetic = ml_collections.ConfigDict(
        dict(
            num_glosses=20,
            mode="isolated",  # isolated or continuous
            train_signers=8,
            val_signers=2,
            test_signers=3,
            samples_per_gloss_per_signer=5,
            continuous_samples_per_signer=40,
            min_glosses=2,
            max_glosses=6,
            seed=0,
        )
    )

    config.stages = ml_collections.ConfigDict()
    config.stages.stage1 = stage(  # frontend warm-up, encoder and decoder frozen
        trainable=FRONTEND_AND_CTC_HEAD, alpha=1.0, lr=1e-3, epochs=30, batch_size=32
    )
    config.stages.stage2 = stage(alpha=0.3, lr=5e-5, epochs=100, batch_size=16)  # joint
    config.stages.stage3 = stage(  # real-time fine-tuning on sliding windows
        alpha=0.3,
        lr=1e-5,
        epochs=30,
        batch_size=16,
        weight_decay=1e-5,
        window_seconds=3.0,
        overlap_seconds=1.5,
    )

    config.clip_norm = 1.0  # clip_by_global_norm
    # A step with a non-finite loss or gradient is skipped; this many in a row stop training.
    config.max_consecutive_nonfinite = 10
    config.label_smoothing = 0.0  # of the attention decoder's targets
    config.log_every_steps = 50
    # After the last stage: its best model on the test split with the default decoder, in the
    # closing summary and <workdir>/eval/test-<decoder>/ (single-process runs; main.py).
    config.evaluate_test = True
    config.eval_every_epochs = 1
    config.eval_every_steps = 0  # > 0: validate every this many steps instead
    # Stop a stage when the validation loss has not fallen by more than min_delta (relative)
    # for `patience` validations in a row; the best checkpoint is kept (0: never stop).
    config.early_stopping = ml_collections.ConfigDict(dict(patience=0, min_delta=0.0))
    config.best_metric = "wer"  # best checkpoint by: wer (ties: accuracy), accuracy or loss
    config.checkpoint_every_steps = 500
    config.keep_checkpoints = 2  # latest checkpoints kept for resume (plus the best one)

    config.mesh = ml_collections.ConfigDict()
    config.mesh.data = -1  # -1: all devices not used by fsdp
    config.mesh.fsdp = 1  # parameter sharding degree

    # Multi-host runs (docs/scaling.md): every host runs the same command.
    config.distributed = ml_collections.ConfigDict()
    config.distributed.initialize = False  # call jax.distributed.initialize() at start
    config.distributed.coordinator_address = ""  # host:port of process 0; "": detected
    config.distributed.num_processes = 0  # 0: detected (TPU pods, Slurm, Open MPI)
    config.distributed.process_id = -1  # this host's process; -1: detected
    config.distributed.cpu_collectives = "gloo"  # collectives of multi-process CPU runs
    # Seconds a process waits for process 0's coordinator and for the others to join; then it
    # stops (a process other than 0: a one-line error naming coordinator_address).
    config.distributed.initialization_timeout_s = 300.0
    return config


def single_stage(name: str) -> ml_collections.ConfigDict:
    """The default config running only stage ``name``."""
    config = get_config()
    config.run_stages = (name,)
    return config
