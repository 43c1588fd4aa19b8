"""rainstream: real-time video deraining. ``rainstream.stream(source, ...)`` yields derained frames."""


def __getattr__(name):
    # Lazy, so ``import rainstream`` (and the CLI's start-up) does not import torch.
    if name in ("stream", "Stream", "DerainedFrame"):
        from rainstream import api

        return getattr(api, name)
    raise AttributeError(f"module 'rainstream' has no attribute {name!r}")
