"""``rainstream train``: train or fine-tune any registered model from a YAML config plus key=value overrides."""
from __future__ import annotations

import argparse
import os
import signal

EXAMPLES = """examples:
  rainstream train train_spa
  rainstream train train_spa data.train=/data/SPA/real_world.txt optim.lr=5e-5 steps=20000
  rainstream train train_spa init_weights=models/NeRD-Rain-S_SPA.pth   # fine-tune
  rainstream train train_spa --resume            # continue from the newest checkpoint
  torchrun --nproc_per_node 4 -m rainstream.cli.main train train_spa   # 4 GPUs (DDP)
  rainstream train train_drsformer data.train=/data/Rain200H/train        # DRSformer's recipe
  torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
      -m rainstream.cli.main train train_spa                            # 2 nodes

Overrides are dotted keys with Python literal values (strings need no quotes):
  model.name (rainstream models), steps, seed, device, precision (fp32|bf16|fp16), init_weights, output_dir, log_every,
  checkpoint_every, keep_checkpoints, val_every, data.kind (paired|spa|synthetic), data.train,
  data.val, data.root, data.patch_size, data.batch_size (per process), data.num_workers, ...
The output folder receives checkpoints/, config.yaml, metrics.jsonl, train.log, final.safetensors.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train or fine-tune a model on paired rain data",
        description="Train or fine-tune a registered model with its paper's loss and optimizer settings "
                    "(single process, or DDP under torchrun).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", metavar="CONFIG", help="training YAML file, or a bundled config: train_spa, train_paired, train_synthetic, "
                        "train_default_weights, train_drsformer, train_mspfn")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=2e-4")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue from the newest checkpoint in output_dir (or from CHECKPOINT)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's, fewer when the load average says the cores are busy)")
    p.set_defaults(func=handle)


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt


def handle(args: argparse.Namespace) -> int:
    from rainstream.training import load_config, train

    from rainstream.threads import set_threads

    config = load_config(args.config, args.overrides)
    set_threads(args.threads)
    single = int(os.environ.get("WORLD_SIZE", "1")) == 1
    saved = {}
    if single:
        # A single process stopped by SIGTERM (systemd, docker stop, a scheduler) or by a Ctrl-C
        # that a background shell set to be ignored still saves a checkpoint; under torchrun the
        # launcher owns the signals and tears all ranks down together.
        saved = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        train(config, resume=args.resume)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    return 0
