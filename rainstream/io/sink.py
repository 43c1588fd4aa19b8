"""What every sink is: ``write(frame)`` in presentation order, then ``close()`` or, after an error, ``abort()``.

One protocol, so the pipeline's runner drives a segment encoder, a live recording, a re-published
stream and still images alike. As a context manager a sink closes on success (and on Ctrl-C, so the
output stays playable) and aborts on any other error.
"""
from __future__ import annotations

from rainstream.frames import Frame


def close_quietly(container) -> None:
    """Close a PyAV container while already failing: a second error must not hide the first."""
    if container is None:
        return
    try:
        container.close()
    except Exception:  # noqa: BLE001 - already failing; keep the first error
        pass


class Sink:
    """Base of the sinks: subclasses implement ``write``, ``close`` and ``abort``; ``last_pts`` is
    the pts of the last frame written (where a run cut short stopped, for the missing-frames rule)."""

    frames_written: int = 0
    last_pts: int | None = None

    def write(self, frame: Frame) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the output (flush encoders, rename into place)."""

    def abort(self) -> None:
        """Stop after an error; keep whatever a later run can use, never a half-written final file."""

    def __enter__(self) -> "Sink":
        return self

    def __exit__(self, exc_type, *rest) -> None:
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            self.close()
        else:
            self.abort()
