"""``serve``'s loggers build no record for a debug line their handlers would drop (a traitlets
application keeps its logger at DEBUG and filters in the handler: jupyter_server made a record, with
a walk up the stack, for every kernel message of a class's drags)."""

from __future__ import annotations

import logging

from traitlets.config import Application

from lab8widgets.server.logs import skip_unlogged_records


class Counted(logging.Filter):
    """Counts the records the logger built (a logger's filters see every record it makes)."""

    def __init__(self):
        super().__init__()
        self.levels: list[int] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.levels.append(record.levelno)
        return False  # nothing reaches the terminal from this test


def app_log(name: str, level: str) -> tuple[logging.Logger, Counted, Application]:
    app = type(name, (Application,), {})(log_level=level)
    counted = Counted()
    app.log.addFilter(counted)
    return app.log, counted, app


def test_debug_lines_build_no_record_at_the_handlers_level():
    log, counted, app = app_log("QuietApp", "INFO")
    log.debug("activity on %s", "k")
    assert counted.levels == [logging.DEBUG]  # traitlets' default: built, then dropped
    counted.levels.clear()
    skip_unlogged_records(log, app.log_level)
    log.debug("activity on %s", "k")
    log.info("Kernel started")
    log.warning("culling")
    assert counted.levels == [logging.INFO, logging.WARNING]


def test_debug_level_keeps_debug_lines():
    log, counted, app = app_log("LoudApp", "DEBUG")
    skip_unlogged_records(log, app.log_level)
    log.debug("activity on %s", "k")
    assert counted.levels == [logging.DEBUG]
