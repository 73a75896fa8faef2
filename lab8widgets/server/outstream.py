"""The stdout and stderr of a forked kernel: ipykernel's, with a flush that returns at once when
nothing was written since the last one went out."""

from __future__ import annotations

from ipykernel.iostream import OutStream

# the dotted name a kernel's ``--IPKernelApp.outstream_class`` takes
OUTSTREAM_CLASS = "lab8widgets.server.outstream.PromptOutStream"


class PromptOutStream(OutStream):
    """ipykernel's ``OutStream`` whose ``flush`` skips the IOPub thread when there is nothing to send.

    ipykernel flushes stdout and stderr after every message it handles, and each flush hands two
    callbacks to the IOPub thread and waits for them: four thread hand-offs per widget message, for
    nothing when the handler printed nothing (a drag step; ~10 % of a kernel's CPU per step on two
    cores). Whatever was written sets a pending flush until the IOPub thread takes it, so a write
    is never skipped; and what that thread has taken goes out before the ``idle`` status, which is
    queued on the same thread after it.
    """

    def flush(self):
        if self._flush_pending or self._subprocess_flush_pending or self.echo is not None:
            super().flush()
