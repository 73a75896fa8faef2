"""The log filter that keeps ``serve``'s terminal to what a teacher needs to read."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import labs
from .places import notebooks_dir


class QuietFilter(logging.Filter):
    """Drops the log lines ``serve`` makes pointless: "not trusted" for the shipped notebooks (trust is
    a per-user signature database; ours carry no outputs to trust), and tornado's warning about
    jupyter_server's ping settings (jupyter_server gives milliseconds where tornado 6.5 reads
    seconds; jupyter_server runs its own keep-alive, so nothing is lost)."""

    def __init__(self, own_notebooks: set[str]):
        super().__init__()
        self.own = own_notebooks

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg if isinstance(record.msg, str) else ""
        if msg.startswith("Notebook %s is not trusted") and record.args:
            return Path(str(record.args[0])).name not in self.own
        return not msg.startswith("The websocket_ping_timeout")


def quiet_logs(app_log: logging.Logger, root_dir: str) -> None:
    """Install ``QuietFilter``; "not trusted" stays for notebooks other than the shipped ones."""
    try:
        ours = Path(root_dir).resolve() == notebooks_dir()
    except FileNotFoundError:
        ours = False
    own = {lab.notebook for lab in labs.LABS} if ours else set()
    for logger in (app_log, logging.getLogger("tornado.general")):
        if not any(isinstance(f, QuietFilter) for f in logger.filters):
            logger.addFilter(QuietFilter(own))


def skip_unlogged_records(log: logging.Logger, level: int | str) -> None:
    """Set ``log``'s own level to the level its handlers log at. A traitlets application keeps its
    logger at DEBUG and filters in the handler, so every ``log.debug`` call (jupyter_server makes
    one per kernel message, ipykernel three) builds a record, with a walk up the stack, that the
    handler then drops: at a class's 200 drag steps a second, CPU for nothing."""
    log.setLevel(logging.getLevelName(level) if isinstance(level, str) else level)
