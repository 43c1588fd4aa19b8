"""Official checkpoint -> project safetensors, checked by building the model it describes."""
from __future__ import annotations

from pathlib import Path

from rainstream.errors import RainstreamError
from rainstream.model.checkpoint import infer_dim, read_weights, write_safetensors
from rainstream.model.loading import build_model, load_state


def convert_checkpoint(src: str | Path, dst: str | Path, half: bool = False) -> tuple[int, int]:
    """Write ``src``'s weights under our names to ``dst``; returns (dim, parameter count)."""
    if Path(dst).suffix != ".safetensors":
        raise RainstreamError(f"output must end in .safetensors: {dst}")
    state = read_weights(src)
    dim = infer_dim(state)
    model = build_model("nerd_rain_s", dim=dim)
    load_state(model, state, source=str(src))  # refuse to write a file that would not load
    write_safetensors(model.state_dict(), dst, metadata={"format": "rainstream-nerd-rain", "dim": str(dim),
                                                          "source": Path(src).name}, half=half)
    return dim, sum(p.numel() for p in model.parameters())
