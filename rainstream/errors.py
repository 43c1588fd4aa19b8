"""The one exception type whose message is shown to users as a single line (no traceback)."""


class RainstreamError(Exception):
    """Bad input or an unusable environment: the CLI prints ``error: <message>`` and exits non-zero."""

    exit_code = 2


class CheckpointError(RainstreamError):
    """A weights file that cannot be read, fails its checksum, or does not fit the model."""
