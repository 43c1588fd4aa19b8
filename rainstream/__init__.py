"""rainstream: real-time video deraining. ``rainstream.stream(source, ...)`` yields derained frames;
``rainstream.list_models()`` / ``rainstream.load_model(name, weights=...)`` are the model zoo."""


def __getattr__(name):
    # Lazy, so ``import rainstream`` (and the CLI's start-up) does not import torch.
    if name in ("stream", "Stream", "DerainedFrame"):
        from rainstream import api

        return getattr(api, name)
    if name in ("load_model", "list_models"):
        from rainstream import model

        return getattr(model, name)
    raise AttributeError(f"module 'rainstream' has no attribute {name!r}")
