"""Time one training step (the architecture's training outputs + its loss + backward + Adam) of a model.

    python -m rainstream.training.step_time --variant nerd_rain_s --size 256 --batch 1 --steps 5
    python -m rainstream.training.step_time --variant drsformer --size 128 --batch 8 --steps 3

Prints the median over ``--steps`` timed steps after one warm-up step. A benchmark, not a test:
numbers depend on the machine and on what else it is running.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rainstream.model import build_model, resolve_device
from rainstream.model.registry import architecture_of


def time_steps(variant: str = "nerd_rain_s", size: int = 256, batch: int = 1, steps: int = 5,
               device: str = "cpu", precision: str = "fp32") -> list[float]:
    """Seconds of each timed training step (the first, warm-up step is not included)."""
    dev = resolve_device(device)
    model = build_model(variant).to(dev).train()
    arch = architecture_of(model)
    loss_fn = arch.make_loss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    rainy, clean = torch.rand(batch, 3, size, size, device=dev), torch.rand(batch, 3, size, size, device=dev)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision) if dev.type == "cuda" else None
    times = []
    for i in range(steps + 1):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        start = time.perf_counter()
        with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
            outputs = arch.train_outputs(model, rainy)
        loss = loss_fn(outputs, clean)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if i:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="nerd_rain_s")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    args = parser.parse_args()
    times = time_steps(args.variant, args.size, args.batch, args.steps, args.device, args.precision)
    print(f"{args.variant} {args.size}x{args.size} batch {args.batch} on {args.device} ({args.precision}, "
          f"{torch.get_num_threads()} threads): median {statistics.median(times):.3f} s/step "
          f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} steps)")


if __name__ == "__main__":
    main()
