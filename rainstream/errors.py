"""The one exception type whose message is shown to users as a single line (no traceback)."""


class RainstreamError(Exception):
    """Bad input or an unusable environment: the CLI prints ``error: <message>`` and exits non-zero."""

    exit_code = 2


class DiskFull(RainstreamError):
    """The disk (or quota) filled while writing: what was finished is kept, so `resume` can finish
    once space is freed."""


class CheckpointError(RainstreamError):
    """A weights file that cannot be read, fails its checksum, or does not fit the model."""


class SomeFailed(RainstreamError):
    """A job over many files finished, but some files failed (each is named in the message and the
    summary); the others were written. ``summary`` is the job's summary."""

    exit_code = 3

    def __init__(self, message: str, summary=None):
        super().__init__(message)
        self.summary = summary
