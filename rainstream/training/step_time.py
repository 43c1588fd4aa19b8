"""Training throughput: time one step (the architecture's training outputs + its loss + backward + Adam)
of a model.

    python -m rainstream.training.step_time --variant nerd_rain_s --size 128 --batch 2 --precision bf16
    python -m rainstream.training.step_time --size 96 --batch 4 --precision bf16 --channels-last
    python -m rainstream.training.step_time --variant drsformer --size 128 --batch 8 --steps 3

Prints the median over ``--steps`` timed steps after ``--warmup`` untimed ones, as s/step, steps/s,
crops/s and megapixels/s (what a recipe buys per CPU-hour). A benchmark, not a test: numbers depend
on the machine and on what else it is running.
"""
from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch

from rainstream.model import build_model, resolve_device
from rainstream.model.registry import architecture_of

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def time_steps(variant: str = "nerd_rain_s", size: int = 256, batch: int = 1, steps: int = 5,
               device: str = "cpu", precision: str = "fp32", warmup: int = 1, channels_last: bool = False,
               compile: bool = False) -> list[float]:
    """Seconds of each timed training step (the ``warmup`` first steps are not included)."""
    dev = resolve_device(device)
    model = build_model(variant).to(dev).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    arch = architecture_of(model)
    train_outputs = functools.partial(arch.train_outputs, model)  # NeRD-Rain: forward_all; DRSformer: forward
    forward = torch.compile(train_outputs) if compile else train_outputs
    loss_fn = arch.make_loss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, foreach=True)
    rainy, clean = torch.rand(batch, 3, size, size, device=dev), torch.rand(batch, 3, size, size, device=dev)
    if channels_last:
        rainy = rainy.contiguous(memory_format=torch.channels_last)
    amp = AMP_DTYPES.get(precision)
    times = []
    for i in range(steps + warmup):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        start = time.perf_counter()
        with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
            outputs = forward(rainy)
        loss = loss_fn(outputs, clean)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="nerd_rain_s")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the forward")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    times = time_steps(args.variant, args.size, args.batch, args.steps, args.device, args.precision,
                       args.warmup, args.channels_last, args.compile)
    median = statistics.median(times)
    extras = "".join(f", {name}" for name, on in (("channels-last", args.channels_last),
                                                  ("compile", args.compile)) if on)
    print(f"{args.variant} {args.size}x{args.size} batch {args.batch} on {args.device} ({args.precision}{extras}, "
          f"{torch.get_num_threads()} threads): median {median:.3f} s/step = {1 / median:.3f} steps/s = "
          f"{args.batch / median:.3f} crops/s = {args.batch * args.size ** 2 / median / 1e6:.4f} Mpx/s "
          f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} steps)")


if __name__ == "__main__":
    main()
