"""The first widget sooner: the webpack chunks a lab page loads late, sent as one script.

Voila's front end fetches ~90 webpack chunks (its own and the widget extensions'), a request each,
in waves: each wave only once the previous one has run. On 2 loaded cores Chromium's
per-request overhead made these waits ~0.5 s of a ~1.8 s first widget. Sent as one script before
voila.js, each chunk registers itself in its bundle's chunk list, and webpack finds it there
instead of fetching it. A chunk the manifest lacks (another Voila) is fetched as usual.
"""

from __future__ import annotations

import json
from pathlib import Path

from .places import TEMPLATE, TEMPLATES_ROOT, is_shipped

# Voila's front end fetches ~90 webpack chunks (its own and the widget extensions'), a request each,
# in waves: each wave only once the previous one has run. On 2 loaded cores Chromium's
# per-request overhead made these waits ~0.5 s of a ~1.8 s first widget. Sent as one script before
# voila.js, each chunk registers itself in its bundle's chunk list, and webpack finds it there
# instead of fetching it. A chunk the manifest lacks (another Voila) is fetched as usual.
CHUNKS_MANIFEST = TEMPLATES_ROOT / "voila" / "templates" / TEMPLATE / "chunks.json"
CHUNKS_URL = "lab8widgets/chunks.js"


def chunk_files(static_paths: list[str], labextensions_paths: list[str]) -> list[Path]:
    """The manifest's chunks found where Voila serves them from (``static/...`` in its static
    folders, ``labextensions/...`` in the labextension folders; the first folder holding one wins,
    as in Voila's own handlers)."""
    roots = {"static": static_paths, "labextensions": labextensions_paths}
    found = []
    for rel in json.loads(CHUNKS_MANIFEST.read_text())["chunks"]:
        kind, _, rest = rel.partition("/")
        for root in roots.get(kind, ()):
            path = Path(root) / rest
            if path.is_file():
                found.append(path)
                break
    return found


def chunks_bundle(files: list[Path]) -> bytes:
    """The chunks as one script (each chunk file is a self-contained statement)."""
    return b"".join(f.read_bytes() + b"\n;\n" for f in files)


def chunks_handler():
    """A handler sending the bundle built at start (it follows the installed Voila, so it is
    revalidated by its ETag rather than cached for long)."""
    from tornado.web import RequestHandler

    class ChunksHandler(RequestHandler):
        def initialize(self, body: bytes):
            self.body = body

        def get(self):
            self.set_header("Content-Type", "text/javascript; charset=UTF-8")
            self.set_header("Cache-Control", "no-cache")
            self.write(self.body)

    return ChunksHandler


def chunks_argv(root: Path, notebook: Path | None) -> list[str]:
    """Tell the template to load the chunk bundle (the shipped labs only: the manifest is theirs;
    a page elsewhere, e.g. JupyterHub's Voila, renders the same template without it)."""
    if not is_shipped(root, notebook):
        return []
    # key=value, not a JSON dict: traitlets 5 warns (DeprecationWarning) on a dict given as JSON
    return [f"--VoilaConfiguration.resources=lab8_chunks={CHUNKS_URL}"]
