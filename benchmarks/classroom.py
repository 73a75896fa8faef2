"""A classroom on one machine: N learners open ConvLab at once against one ``lab8widgets serve``.

Issue 22: by default each N runs twice, ``serve conv --class-size N`` (kernels forked from the warm
template, N ready) and launched kernels with a preheat pool (``--pool``), in the same run. Learners'
browsers run on their own machines, not the server's: so ``--browsers`` of them (3) are real
Chromium pages, measured in the page, and the rest light websocket clients (``Light``) that
open the page, take its kernel and send the same comm messages at the same rate; the table says
which is which. The JSON line carries ``max_learners_p95_50ms``, ``first_widget_p95_s`` per round,
``pss_mb_per_learner`` (proportional set size, shared pages divided among their sharers) and
``fork``, and the same figures without forking under ``without_fork``.

It prints an estimate of its run time first. For each N (``--rounds``, 1,5,10,20,30 by default,
capped by the memory a kernel needs) a fresh ``serve conv`` starts and fills its preheated-kernel
pool; then N learners open the page (at once, or spread over ``--arrive-within`` seconds), and once
every one has its widget they all drag a layer-1 kernel cell in the same seconds, step by step (one
4-px step = one new value, every 150 ms), in two phases one after the other (``--phases``):
``random``, each learner at its own phase of the 150 ms cadence (a seeded offset in [0, 150 ms),
``--seed``), as real learners drag, which gives the row's round trip; then ``aligned``, every
learner's step in the same instant (the worst case, a burst no real class makes; ``--aligned``
runs only that one). And we time

- time to first widget: navigation start -> ConvLab's kernel grid on screen;
- round trip under load: the grid's edit message (``performance.mark('lab8-edit')``) -> conv1's
  repaint with the model's new output (browser -> kernel -> torch -> browser);
- memory: resident set of every kernel process of the server (per kernel and in total);
- CPU per drag step, per phase (user + system time from ``/proc``): the server (Voila /
  jupyter_server), the kernels, refills (the template and kernels started meanwhile), this process
  (the light clients, which parse only each frame's header and the chain's own ``comm_msg``), and
  the browsers (Chromium, Playwright's driver). The server side must fit the machine; the learners'
  side runs here only because the benchmark has one box, so it runs ``--learners-nice`` (10) steps
  nicer than the server and gets the CPU the server side leaves.

Each N runs twice, with preheated kernels (``serve``'s default) and with ``--no-preheat``, so the
two modes meet the same load (``--modes ... no-bundle`` adds a third: preheated, but without the
chunk bundle ``serve`` sends ahead of Voila's front end, i.e. ~90 separate chunk requests); a
single learner (N=1) is repeated ``--repeat`` times on fresh servers to give a median. Time to
first widget is split where the page spends it: the page's own scripts loaded (``load`` event), the
kernel websocket open, the widget shown.

The largest N whose round-trip p95 stays <= 50 ms (with preheat) is the class one machine holds.
Ends with one JSON line (``first_widget_p50_s``, ``first_widget_p95_s`` with preheat at N=1,
``first_widget_no_preheat_p50_s``, ``max_learners_p95_50ms``, ``kernel_mb``, the load average
and the rows).

    python benchmarks/classroom.py [--rounds 1,5,10,20,30] [--browsers 3] [--steps 40] [--repeat 3]
    python benchmarks/classroom.py --rounds 1,5,10,20,30 --repeat 1 --arrive-within 10  # issue 22
    python benchmarks/classroom.py --rounds 10,20,30 --repeat 1 --arrive-within 10 --modes fork
    python benchmarks/classroom.py --rounds 5 --repeat 1    # a small round
    python benchmarks/classroom.py --rounds 30 --modes fork --aligned --learners-nice 0  # as before
    python benchmarks/classroom.py --pool n    # a pool as large as the class (serve --pool N)
    python benchmarks/classroom.py --modes preheat      # only one mode (or: --no-preheat)
    python benchmarks/classroom.py --learners 1 --repeat 5 --modes preheat no-bundle no-preheat
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import struct
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import machine, pct  # noqa: E402

from lab8widgets.testing.server import Server, launch_chromium  # noqa: E402

KERNEL_GB = 0.75  # resident size of a ConvLab kernel (torch + the lab), measured below too
FORKED_GB = 0.2  # PSS of a forked ConvLab kernel (the template's pages are shared)
TEMPLATE_CMD = b"lab8widgets.server.template"
HEADROOM_GB = 4.0  # left to the rest of the machine (a shared box: others work on it too)
STEP_MS = 150  # one drag step every 150 ms: a learner exploring, not a stress test
STEPS = 40  # drag steps per learner: 6 s of the whole class dragging together
# the run time estimate (seconds, quiet 2-core machine): a server start with its template, a
# kernel of the pool forked and its notebook run, one launched (torch and fastai imported), the
# first widgets, per learner (pages, light clients, PSS read), the shutdown
SERVER_S, FORK_KERNEL_S, LAUNCH_KERNEL_S, FIRST_S, PER_LEARNER_S, STOP_S = 15, 1.5, 4, 5, 0.5, 8
# when the page's first kernel websocket opens (the page's scripts are loaded and the kernel found)
WS_OPEN = """(() => {
  const W = globalThis.WebSocket;
  globalThis.WebSocket = class extends W {
    constructor(url, protocols) {
      super(url, protocols);
      if (String(url).includes("/channels") && globalThis.__lab8_ws_open === undefined)
        this.addEventListener("open", () => { globalThis.__lab8_ws_open ??= performance.now(); });
    }
  };
})()"""
WATCH = """() => {
  const el = document.querySelector('.lab8-conv-conv1-0 .lab8-grid');
  globalThis.__paints = [];
  new MutationObserver(() => globalThis.__paints.push(performance.now()))
    .observe(el, { attributes: true, attributeFilter: ['data-version'] });
}"""


LEARNER_TIMEOUT = 300  # seconds one learner may take in all (its widget, then its drag steps)
WARM_STEPS = 3  # a drag's first steps, reported apart from the rest (``first_steps_...``)
ACK_TIMEOUT = 30  # seconds a light client waits for one drag step's answer before counting it lost
PROTOCOL = "v1.kernel.websocket.jupyter.org"  # what JupyterLab's and Voila's pages speak
CONTROL_TARGET = "jupyter.widget.control"  # ipywidgets 8's comm for every widget's state at once
CONTROL_VERSION = "1.0.0"  # its protocol version (ipywidgets' __control_protocol_version__)
CHAIN_PREFIX = (
    "lab8-conv-"  # ConvLab's chain (a HeatmapStack); its first kernel grid is key ("kernel", 0)
)
CONFIG = re.compile(
    r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', re.S
)


def unpack(frame: bytes) -> dict:
    """A kernel message from the websocket, in the page's protocol (``v1.kernel.websocket.jupyter.
    org``: offsets, the channel, header, parent header, metadata, content, buffers)."""
    from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1

    channel, parts = deserialize_msg_from_ws_v1(frame)
    header, parent, _meta, content = (json.loads(p) for p in parts[:4])
    return {"channel": channel, "msg_type": header["msg_type"], "header": header,
            "parent_header": parent, "content": content}  # fmt: skip


def peek(frame: bytes) -> tuple[str, bytes, bytes]:
    """(channel, header, content) of a v1 websocket frame, as raw bytes: no JSON parsed, no buffer
    copied (what a learner's browser parses runs on the learner's machine; on this one box the
    light clients must cost as little as they can, so they json-parse only what they wait for)."""
    (count,) = struct.unpack_from("<Q", frame)
    offs = struct.unpack_from(f"<{count}Q", frame, 8)
    channel = frame[offs[0] : offs[1]].decode()
    return channel, frame[offs[1] : offs[2]], frame[offs[4] : offs[5]]


class Light:
    """A light learner: what a learner's browser asks of the server, without a
    browser (learners' browsers run on their own machines, not the server's).

    It opens the lab's page (``GET``, which takes a preheated kernel or starts one), connects to that
    kernel's websocket as the page does, loads the widgets' state as ipywidgets 8's manager in the
    page does at start (a ``jupyter.widget.control`` comm, ``request_states``, one ``update_states``
    reply with every widget), finds ConvLab's chain and sends the
    same custom message a drag step on its first kernel grid sends (``{"event": "edit", "key":
    ["kernel", 0], ..., "seq": n}``), one every ``step_ms``; a round trip ends when the chain's ``ack``
    comes back with that ``seq`` (the repaint's data rides on the same message).
    """

    def __init__(self, url: str):
        self.url = url
        self.session = uuid.uuid4().hex

    def msg(
        self, msg_type: str, content: dict, channel: str = "shell", metadata: dict | None = None
    ) -> bytes:
        """A message in the page's websocket protocol (Voila's handler reads every binary
        message as that protocol: the legacy framing would make it parse garbage)."""
        from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1

        return serialize_msg_to_ws_v1(
            {
                "header": {
                    "msg_id": uuid.uuid4().hex,
                    "msg_type": msg_type,
                    "session": self.session,
                    "username": "light",
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": metadata or {},
                "content": content,
            },
            channel,
            pack=lambda part: json.dumps(part).encode(),
        )

    async def page(self, path: str) -> str:
        def get():
            with urllib.request.urlopen(self.url + path, timeout=600) as r:
                return r.read().decode()

        html = await asyncio.get_running_loop().run_in_executor(None, get)
        return json.loads(CONFIG.search(html).group(1))["kernelId"]

    @staticmethod
    async def acked(ws, grid: str, seq: int) -> None:
        """Read until the chain acknowledges ``seq`` (its ``ack`` state). Only the header of each
        frame is parsed, and the content only of the chain's own ``comm_msg``."""
        comm_id = f'"{grid}"'.encode()
        while True:
            frame = await ws.read_message()
            if frame is None:
                raise RuntimeError("the kernel websocket closed")
            channel, header, content = peek(frame)
            if channel != "iopub" or b'"comm_msg"' not in header or comm_id not in content:
                continue
            if json.loads(header)["msg_type"] != "comm_msg":
                continue
            c = json.loads(content)
            if c.get("comm_id") == grid:
                ack = c["data"].get("state", {}).get("ack")
                if isinstance(ack, int) and ack >= seq:
                    return

    async def run(self, path: str, steps: int, step_ms: int, plan: list[Phase]) -> dict:
        from tornado.websocket import websocket_connect

        t0 = time.perf_counter()
        kid = await self.page(path)
        ws_url = self.url.replace("http", "ws", 1)
        ws = await websocket_connect(
            f"{ws_url}api/kernels/{kid}/channels?session_id={self.session}",
            max_message_size=2**28,
            subprotocols=[PROTOCOL],
        )
        try:
            # as ipywidgets 8's manager in the page: one control comm, every widget's state in
            # one reply (``request_states`` -> ``update_states``)
            control = uuid.uuid4().hex
            opened = {"comm_id": control, "target_name": CONTROL_TARGET, "data": {}}
            meta = {"version": CONTROL_VERSION}
            ws.write_message(self.msg("comm_open", opened, metadata=meta), binary=True)
            data = {"method": "request_states"}
            ws.write_message(self.msg("comm_msg", {"comm_id": control, "data": data}), binary=True)
            states = None
            while states is None:
                frame = await ws.read_message()
                if frame is None:
                    raise RuntimeError("the kernel websocket closed")
                m = unpack(frame)
                c = m["content"]
                if m["msg_type"] == "comm_msg" and c.get("comm_id") == control:
                    states = c["data"].get("states", {})
            grid = next(
                (k for k, v in states.items() if v["state"].get("css_prefix") == CHAIN_PREFIX), None
            )
            if grid is None:
                raise RuntimeError(f"no ConvLab chain among the page's {len(states)} widgets")
            first = time.perf_counter() - t0
            out = {"first_s": first, "kind": "light", "phases": {}}
            seq = 1000
            for phase in plan:
                await phase.member.arrive()
                await asyncio.sleep(phase.offset_s)  # this learner's phase in the 150 ms cadence
                rt, lost = [], 0
                for s in range(1, steps + 1):
                    seq += 1
                    sent = time.perf_counter()
                    content = {"event": "edit", "key": ["kernel", 0], "row": 1, "col": 1}
                    content.update(value=round(0.1 * s, 1), done=False)
                    data = {"method": "custom", "content": {**content, "seq": seq}}
                    msg = self.msg("comm_msg", {"comm_id": grid, "data": data})
                    ws.write_message(msg, binary=True)
                    try:
                        await asyncio.wait_for(self.acked(ws, grid, seq), ACK_TIMEOUT)
                        rt.append((time.perf_counter() - sent) * 1000)
                    except asyncio.TimeoutError:
                        lost += 1  # never answered: counted, not timed
                    await asyncio.sleep(max(0, step_ms / 1000 - (time.perf_counter() - sent)))
                phase.member.finish()
                out["phases"][phase.name] = {"rt_ms": rt, "edits": steps, "lost": lost}
            return out
        finally:
            ws.close()


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every process we may read."""
    out = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            out[int(p.name)] = (ppid, (p / "cmdline").read_bytes())
        except (OSError, ValueError, IndexError):
            continue
    return out


def kernel_pids(server_pid: int) -> list[int]:
    """The server's kernels: its ipykernel children, and the template's forked children."""
    procs = processes()
    templates = {
        pid for pid, (ppid, cmd) in procs.items() if ppid == server_pid and TEMPLATE_CMD in cmd
    }
    return [
        pid
        for pid, (ppid, cmd) in procs.items()
        if (ppid == server_pid and b"ipykernel" in cmd) or ppid in templates
    ]


def template_pids(server_pid: int) -> list[int]:
    return [
        pid
        for pid, (ppid, cmd) in processes().items()
        if ppid == server_pid and TEMPLATE_CMD in cmd
    ]


def pss_mb(pid: int) -> float:
    """Proportional set size: shared pages divided among the processes sharing them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
CPU_PARTS = ("server", "kernels", "refill", "bench", "browsers")


def descendants(root: int, procs: dict[int, tuple[int, bytes]]) -> set[int]:
    """``root`` and every process below it."""
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _cmd) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo.extend(kids.get(pid, ()))
    return out


def cpu_snapshot(server_pid: int) -> dict:
    """CPU ticks (user + system) of each process that takes part in a drag: the server (Voila /
    jupyter_server), each kernel and the template, this benchmark's own process (the light
    clients and the Playwright client), and the browsers (Playwright's driver and Chromium)."""
    procs = processes()
    ours = descendants(os.getpid(), procs)
    server_side = descendants(server_pid, procs)
    return {
        "server": cpu_ticks(server_pid),
        "kernels": {p: cpu_ticks(p) for p in kernel_pids(server_pid)},
        "template": sum(cpu_ticks(p) for p in template_pids(server_pid)),
        "bench": cpu_ticks(os.getpid()),
        "browsers": sum(cpu_ticks(p) for p in ours - server_side - {os.getpid()}),
    }


def cpu_per_step(a: dict, b: dict, steps: int) -> dict:
    """CPU milliseconds per drag step between two snapshots. ``kernels``: the kernels that were
    there at the start (the class's, and idle ready ones); ``refill``: the template and kernels
    forked or started meanwhile (the pool refilling); ``server_side``: server + kernels + refill,
    what the class's machine pays (the light clients and browsers run on learners' machines)."""
    kernels = sum(b["kernels"].get(p, t) - t for p, t in a["kernels"].items())
    refill = sum(t for p, t in b["kernels"].items() if p not in a["kernels"])
    refill += b["template"] - a["template"]
    ticks = {
        "server": b["server"] - a["server"],
        "kernels": kernels,
        "refill": refill,
        "bench": b["bench"] - a["bench"],
        "browsers": b["browsers"] - a["browsers"],
    }
    per = {k: round(v * TICK_MS / max(steps, 1), 2) for k, v in ticks.items()}
    per["server_side"] = round(per["server"] + per["kernels"] + per["refill"], 2)
    per["steps"] = steps
    return per


BASE_NICE = os.getpriority(os.PRIO_PROCESS, 0)  # what this run was started at (e.g. nice -n 5)


def learners_side(nice: int) -> None:
    """Run this process (the light clients) and what it starts from now on (Playwright's driver and
    Chromium) ``nice`` steps nicer than the run started: in a real class the learners' browsers run
    on their own machines, so on this one box they get only the CPU the server and its kernels
    leave (measured round trips still include their own waits). ``learners_side(0)`` goes back
    before the next round's server starts, so the server never inherits it."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, BASE_NICE + nice)
    except OSError as e:  # lowering it again needs privileges
        print(f"could not set this process's niceness to {BASE_NICE + nice}: {e}", flush=True)


def renice_learners(server_pid: int, nice: int) -> None:
    """Every thread of the learners' side (Playwright's driver, Chromium) ``nice`` steps nicer than
    the run started. Chromium run as root sets its own thread priorities (its browser, GPU and
    compositor threads at -8, above the server), so inheriting the niceness is not enough: this
    runs again every second of a round."""
    procs = processes()
    for pid in descendants(os.getpid(), procs) - descendants(server_pid, procs) - {os.getpid()}:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            try:
                if os.getpriority(os.PRIO_PROCESS, tid) != BASE_NICE + nice:
                    os.setpriority(os.PRIO_PROCESS, tid, BASE_NICE + nice)
            except OSError:
                pass  # a thread that ended meanwhile


def wait_preheated(server: Server, timeout: float = 300) -> None:
    """Wait until ``serve``'s preheated-kernel pool is filled and has run the notebook (its
    kernels' CPU goes quiet), so the first learner meets a ready kernel."""
    deadline = time.monotonic() + timeout
    while "is filled" not in server.read_log():
        if server.proc.poll() is not None:
            raise RuntimeError(f"serve exited:\n{server.read_log()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the pool did not fill in {timeout}s:\n{server.read_log()[-3000:]}")
        time.sleep(0.5)
    last, quiet = -1, 0
    while time.monotonic() < deadline and quiet < 3:
        now = sum(cpu_ticks(p) for p in kernel_pids(server.proc.pid))
        quiet = quiet + 1 if last > 0 and now - last <= 3 else 0  # < 3% of a core
        last = now
        time.sleep(1)


class Together:
    """One drag phase of the class: each learner, once its widget is shown, waits until every
    learner has its widget (or gave up), so all N drag in the same seconds, as the issue's target
    says; ``done`` is set once every learner has finished its steps (the CPU window's end)."""

    def __init__(self, n: int):
        self.left = n
        self.running = n
        self.go = asyncio.Event()
        self.done = asyncio.Event()
        if n <= 0:
            self.go.set()
            self.done.set()

    def member(self) -> Member:
        return Member(self)


class Member:
    """One learner of a ``Together``: ``arrive`` (then wait for the rest), ``finish`` its steps, or
    ``leave`` (failed: counted as arrived and finished, so nobody waits for it)."""

    def __init__(self, together: Together):
        self.together = together
        self.counted = False
        self.finished = False

    def leave(self) -> None:
        if not self.counted:
            self.counted = True
            self.together.left -= 1
            if self.together.left <= 0:
                self.together.go.set()

    def finish(self) -> None:
        self.leave()
        if not self.finished:
            self.finished = True
            self.together.running -= 1
            if self.together.running <= 0:
                self.together.done.set()

    async def arrive(self) -> None:
        self.leave()
        await self.together.go.wait()


class Phase:
    """One learner's part in one drag phase: its ``Member`` and its start offset. ``random``:
    learners drag at independent phases of the 150 ms cadence (a seeded offset in [0, 150 ms)), as
    a real class does; ``aligned``: every learner's step lands in the same instant every 150 ms (the
    worst case: a burst no real class makes). Every learner drags through the whole phase either way."""

    def __init__(self, name: str, member: Member, offset_s: float):
        self.name, self.member, self.offset_s = name, member, offset_s


def plans(n: int, phases: list[str], seed: int) -> tuple[list[Together], list[list[Phase]]]:
    """Each phase's ``Together`` and each learner's plan (its ``Phase`` in every phase, in order)."""
    rng = random.Random(seed)
    groups = [Together(n) for _ in phases]
    out = [
        [
            Phase(name, g.member(), rng.uniform(0, STEP_MS / 1000) if name == "random" else 0.0)
            for name, g in zip(phases, groups, strict=True)
        ]
        for _ in range(n)
    ]
    return groups, out


async def learner(browser, url: str, steps: int, plan: list[Phase]) -> dict:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    await context.add_init_script(WS_OPEN)
    page = await context.new_page()
    try:
        t0 = time.perf_counter()
        await page.goto(url, wait_until="commit", timeout=600_000)
        await page.wait_for_selector(
            ".lab8-conv-kernel-0 .lab8-grid canvas", state="visible", timeout=600_000
        )
        first = time.perf_counter() - t0
        split = await page.evaluate(
            """() => ({html: performance.getEntriesByType('navigation')[0].responseEnd,
                      scripts: performance.getEntriesByType('navigation')[0].loadEventEnd,
                      ws: globalThis.__lab8_ws_open ?? NaN, shown: performance.now()})"""
        )
        await page.wait_for_selector(".lab8-conv-conv1-0 .lab8-grid", timeout=600_000)
        await page.evaluate(WATCH)
        out = {"first_s": first, "split": split, "phases": {}}
        for phase in plan:
            await phase.member.arrive()
            await asyncio.sleep(phase.offset_s)  # this learner's phase in the 150 ms cadence
            canvas = page.locator(".lab8-conv-kernel-0 canvas")
            box = await canvas.bounding_box()
            cell = (box["width"] - 2) / 3
            x, y = box["x"] + 1 + 1.5 * cell, box["y"] + 1 + 1.5 * cell
            await page.mouse.move(x, y)
            await page.mouse.down()
            await page.evaluate(
                "() => { performance.clearMarks('lab8-edit'); globalThis.__paints.length = 0; }"
            )
            for s in range(1, steps + 1):
                await page.mouse.move(x, y - 4 * s)
                await page.wait_for_timeout(STEP_MS)
            await page.mouse.up()
            phase.member.finish()
            await page.wait_for_timeout(1500)
            edits = await page.evaluate(
                "() => performance.getEntriesByName('lab8-edit').map(e => e.startTime)"
            )
            paints = await page.evaluate("() => globalThis.__paints")
            rt = []
            for i, t in enumerate(edits):
                nxt = edits[i + 1] if i + 1 < len(edits) else float("inf")
                after = [p for p in paints if t < p < nxt]
                if after:
                    rt.append(min(after) - t)
            out["phases"][phase.name] = {"rt_ms": rt, "edits": len(edits)}
        return out
    finally:
        await context.close()


async def round_for(
    n: int,
    steps: int,
    mode: str,
    pool: int,
    browsers: int,
    arrive_within: float = 0.0,
    phases: tuple[str, ...] = ("random", "aligned"),
    seed: int = 0,
    learners_nice: int = 10,
) -> dict:
    """One class of ``n``: ``browsers`` of them real Chromium pages (measured in the page), the
    rest light websocket clients (``Light``) sending the same comm messages at the same rate.
    Learner i opens the page at ``i * arrive_within / n`` s; once every one has its widget, all
    drag together, once per phase (``random``: independent offsets in the 150 ms cadence;
    ``aligned``: every step of the class in the same instant). The first phase is the row's
    round trip; CPU per drag step is counted for each phase and process."""
    from playwright.async_api import async_playwright

    preheat = mode != "no-preheat"
    args = [] if preheat else ["--no-preheat"]
    if mode == "fork":  # forked kernels, as many ready as the class
        args.append(f"--class-size={n}")
    elif preheat:
        args.append(f"--pool={pool}")
    if mode == "no-bundle":  # the template's chunk bundle off: what `serve` sent before it
        args.append("--VoilaConfiguration.resources={}")
    server = Server("conv", env={"LAB8WIDGETS_OFFLINE": "1"}, args=args)
    try:
        if preheat:
            wait_preheated(server)
        idle_kernels = kernel_pids(server.proc.pid)
        n_browsers = min(browsers, n)
        # Playwright's driver and Chromium start below and inherit it (see renice_learners)
        learners_side(learners_nice)
        async with async_playwright() as pw:
            browser = await launch_chromium(pw) if n_browsers else None
            try:
                groups, plan = plans(n, phases, seed)
                jobs = [
                    ("browser", learner(browser, server.url, steps, plan[i]))
                    for i in range(n_browsers)
                ]
                jobs += [
                    ("light", Light(server.url).run("", steps, STEP_MS, plan[i]))  # at /
                    for i in range(n_browsers, n)
                ]
                windows: dict[str, tuple[dict, dict]] = {}

                async def watch_cpu():
                    # in a thread: reading /proc (~10 ms) must not hold up the learners' loop
                    # just as their drag starts
                    for name, g in zip(phases, groups, strict=True):
                        await g.go.wait()
                        a = await asyncio.to_thread(cpu_snapshot, server.proc.pid)
                        await g.done.wait()
                        b = await asyncio.to_thread(cpu_snapshot, server.proc.pid)
                        windows[name] = (a, b)

                watcher = asyncio.ensure_future(watch_cpu())

                async def keep_learners_nice():
                    while learners_nice:
                        await asyncio.to_thread(renice_learners, server.proc.pid, learners_nice)
                        await asyncio.sleep(1)

                nicer = asyncio.ensure_future(keep_learners_nice())
                # arrival slots: the measured browsers spread among the light clients
                slots = [i * n // n_browsers for i in range(n_browsers)]
                slots += [k for k in range(n) if k not in slots]

                async def arrive(i: int, job):
                    try:
                        await asyncio.sleep(slots[i] * arrive_within / n)
                        return await asyncio.wait_for(job, LEARNER_TIMEOUT)
                    finally:
                        for phase in plan[i]:  # one that failed: not waited for
                            phase.member.finish()

                done = await asyncio.gather(
                    *[arrive(i, job) for i, (_, job) in enumerate(jobs)],
                    return_exceptions=True,
                )
                results = [r for r in done if isinstance(r, dict)]
                failed = [
                    f"{kind}: {type(r).__name__} {r}"[:200]
                    for (kind, _), r in zip(jobs, done, strict=True)
                    if not isinstance(r, dict)
                ]
                for line in failed:
                    print(f"N={n} {mode}: a learner failed: {line}", file=sys.stderr, flush=True)
                await asyncio.wait_for(watcher, 10)
                nicer.cancel()
            finally:
                if browser is not None:
                    await browser.close()
        pids = kernel_pids(server.proc.pid)
        mem = [rss_mb(p) for p in pids]
        pss = [pss_mb(p) for p in pids]
        template_pss = sum(pss_mb(p) for p in template_pids(server.proc.pid))
        forked = "kernels are forked from a warm template" in server.read_log()
        row = {
            "learners": n,
            "browsers": n_browsers,
            "light": n - n_browsers,
            "mode": mode,
            "fork": forked,
            "preheat": preheat,
            "pool": n if mode == "fork" else (pool if preheat else 0),
            "kernels": len(pids),
            "preheated_before": len(idle_kernels),
            # a learner's kernel after the lab ran (a refill may still be starting: not the mean)
            "kernel_mb": round(max(mem, default=0)),
            "total_mb": round(sum(mem)),
            # what each kernel adds, shared pages divided among their sharers; the template apart
            "pss_mb_per_learner": round(sum(pss) / max(len(pss), 1)),
            "template_pss_mb": round(template_pss),
        }
        firsts = {"": results}
        firsts["browser_"] = [r for r in results if r.get("kind") != "light"]
        firsts["light_"] = [r for r in results if r.get("kind") == "light"]
        for kind, rs in firsts.items():
            row[f"{kind}first_widget_p50_s"] = round(pct([r["first_s"] for r in rs], 0.5), 2)
            row[f"{kind}first_widget_p95_s"] = round(pct([r["first_s"] for r in rs], 0.95), 2)
        row["phase"] = phases[0]  # the round trip columns without a prefix: the first phase
        for i, name in enumerate(phases):
            done = [r["phases"][name] for r in results if name in r["phases"]]
            light = [
                r["phases"][name]
                for r in results
                if r.get("kind") == "light" and name in r["phases"]
            ]
            browser = [
                r["phases"][name]
                for r in results
                if r.get("kind") != "light" and name in r["phases"]
            ]
            pre = "" if i == 0 else f"{name}_"
            for kind, rs in (("", done), ("browser_", browser), ("light_", light)):
                rts = [x for r in rs for x in r["rt_ms"]]
                row[f"{pre}{kind}roundtrip_p50_ms"] = round(pct(rts, 0.5), 1)
                row[f"{pre}{kind}roundtrip_p95_ms"] = round(pct(rts, 0.95), 1)
            # the first steps of a drag against the rest: a class's first drags all land at once
            head = [x for r in done for x in r["rt_ms"][:WARM_STEPS]]
            rest = [x for r in done for x in r["rt_ms"][WARM_STEPS:]]
            row[f"{pre}first_steps_roundtrip_p95_ms"] = round(pct(head, 0.95), 1)
            row[f"{pre}later_steps_roundtrip_p95_ms"] = round(pct(rest, 0.95), 1)
            row[f"{pre}edits"] = sum(r["edits"] for r in done)
            row[f"{pre}lost"] = sum(r.get("lost", 0) for r in done)  # light clients' unanswered
            row[f"{pre}repaints_timed"] = sum(len(r["rt_ms"]) for r in done)
            a, b = windows.get(name, ({}, {}))
            row.setdefault("cpu_ms_per_step", {})[name] = (
                cpu_per_step(a, b, row[f"{pre}edits"]) if a else None
            )
        row["firsts_s"] = [round(r["first_s"], 2) for r in results]
        row["failed"] = failed  # learners that never got their widget or stopped answering
        browser_rows = [r for r in results if r.get("kind") != "light"]
        row["split_p50_s"] = {
            k: round(pct([r["split"][k] for r in browser_rows], 0.5) / 1000, 2) for k in SPLIT
        }
        return row
    finally:
        learners_side(0)  # the next round's server must not inherit the learners' niceness
        server.stop(timeout=30)  # it shuts every learner's kernel down first


SPLIT = ("html", "scripts", "ws", "shown")


def merge(runs: list[dict]) -> dict:
    """One row from repeated runs of the same N: percentiles over every learner of every run."""
    if len(runs) == 1:
        return runs[0]
    firsts = [x for r in runs for x in r["firsts_s"]]
    row = dict(runs[-1], firsts_s=firsts, runs=len(runs))
    row["first_widget_p50_s"] = round(pct(firsts, 0.5), 2)
    row["first_widget_p95_s"] = round(pct(firsts, 0.95), 2)
    row["split_p50_s"] = {k: round(pct([r["split_p50_s"][k] for r in runs], 0.5), 2) for k in SPLIT}
    for key in ("roundtrip_p50_ms", "roundtrip_p95_ms"):
        row[key] = round(pct([r[key] for r in runs], 0.5), 1)
    row["kernel_mb"] = max(r["kernel_mb"] for r in runs)
    return row


def rounds_arg(text: str) -> list[int]:
    """``--rounds 1,5,10,20,30``: class sizes, each a whole number >= 1."""
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected class sizes like 1,5,10,20,30, got {text!r}")
    return sizes


def estimate_s(learners: list[int], modes: list[str], repeat: int, steps: int, args) -> float:
    """Seconds the run should take on a quiet 2-core machine (measured per round: a server start
    and its pool, the class arriving and dragging, the shutdown). Launched kernels cost ~3 CPU-s
    each to start (torch and fastai), forked ones ~1 s of notebook each, one at a time."""
    total = 0.0
    for n in learners:
        for mode in modes:
            pool = n if args.pool == "n" else int(args.pool)
            kept = n if mode == "fork" else (0 if mode == "no-preheat" else pool)
            per_kernel = FORK_KERNEL_S if mode == "fork" else LAUNCH_KERNEL_S
            start = SERVER_S + kept * per_kernel  # serve, the template, the pool run one by one
            on_demand = max(n - kept, 0) * LAUNCH_KERNEL_S  # learners beyond the pool
            run = (
                args.arrive_within
                + on_demand
                + FIRST_S
                + len(args.phases) * (steps * STEP_MS / 1000 + 2)
                + STOP_S
            )
            total += (start + run + n * PER_LEARNER_S) * (repeat if n == 1 else 1)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--rounds",
        type=rounds_arg,
        default=None,
        metavar="1,5,10,20,30",
        help="class sizes, one round each (default 1,5,10,20,30; same as --learners 1 5 10 20 30)",
    )
    ap.add_argument("--learners", type=int, nargs="+", default=[1, 5, 10, 20, 30])
    ap.add_argument(
        "--arrive-within",
        type=float,
        default=0.0,
        metavar="S",
        help="learners open the page spread evenly over S seconds (default 0: all at once; the "
        "issue's class opens within 10 s)",
    )
    ap.add_argument(
        "--browsers",
        type=int,
        default=3,
        help="learners per round that are real Chromium pages (default 3); the rest are light "
        "websocket clients sending the same comm messages at the same rate",
    )
    ap.add_argument(
        "--steps",
        type=int,
        default=STEPS,
        help=f"drag steps per learner, all learners together (default {STEPS}: "
        f"{STEPS * STEP_MS / 1000:.0f} s of dragging)",
    )
    ap.add_argument(
        "--pool",
        default="1",
        help="preheated kernels kept ready (default 1); 'n': as many as the round's learners",
    )
    ap.add_argument(
        "--modes",
        nargs="+",
        choices=["fork", "preheat", "no-preheat", "no-bundle"],
        default=["fork", "preheat"],
        help="fork: serve --class-size N (kernels forked from the warm template, N ready); "
        "preheat: launched kernels, a pool of --pool; no-preheat; no-bundle: preheated, without "
        "the chunk bundle (default: fork and preheat, the same rows with and without forking)",
    )
    ap.add_argument(
        "--phases",
        nargs="+",
        choices=["random", "aligned"],
        default=["random", "aligned"],
        help="drag phases, one after the other on the same class; the first gives the row's round "
        "trip. random: each learner starts at a seeded offset in [0, 150 ms), as real learners "
        "do; aligned: every learner's step in the same instant (the worst case). Default: both",
    )
    ap.add_argument(
        "--aligned", action="store_true", help="only the aligned phase (same as --phases aligned)"
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the random phases (default 0)")
    ap.add_argument(
        "--learners-nice",
        type=int,
        default=10,
        metavar="N",
        help="niceness of the simulated learners (light clients, Playwright, Chromium; default 10): "
        "their browsers run on their own machines in a class, so here they get the CPU the server "
        "side leaves (0: the same priority as the server)",
    )
    ap.add_argument("--no-preheat", action="store_true", help="same as --modes no-preheat")
    ap.add_argument("--repeat", type=int, default=3, help="runs of N=1 (fresh servers; default 3)")
    ap.add_argument("--quick", action="store_true", help="smoke run (CI): one learner, 3 steps")
    args = ap.parse_args()
    if args.no_preheat:
        args.modes = ["no-preheat"]
    if args.aligned:
        args.phases = ["aligned"]
    if args.rounds:
        args.learners = args.rounds
    if args.quick:
        args.learners, args.steps, args.repeat, args.modes = [1], 3, 1, ["fork"]
    minutes = estimate_s(args.learners, args.modes, args.repeat, args.steps, args) / 60
    print(
        f"estimated run time: ~{minutes:.0f} min on a quiet 2-core machine (rounds "
        f"{','.join(map(str, args.learners))}, modes {' '.join(args.modes)}; a loaded machine "
        "takes longer)",
        flush=True,
    )

    where = machine()  # before the rounds: the load they add is not the machine's
    rows = []
    load = [os.getloadavg()[0]]
    for n in args.learners:
        pool = n if args.pool == "n" else int(args.pool)
        for _ in range(args.repeat if n == 1 else 1):
            for mode in args.modes:  # the modes in turn, so both meet the same load
                # each learner's kernel, the pool and its refills must fit beside what runs already
                kept = n if mode == "fork" else pool
                per = FORKED_GB if mode == "fork" else KERNEL_GB
                # forked: the class, its refilled pool (one refill at a time) and the template
                need = (
                    (n + kept) * per + 0.5 if mode == "fork" else (n + 2 * kept) * per
                ) + HEADROOM_GB
                if need > mem_available_gb():
                    print(
                        f"skip N={n} {mode}: needs ~{need:.0f} GB, "
                        f"{mem_available_gb():.1f} GB available"
                    )
                    continue
                rows.append(
                    asyncio.run(
                        round_for(
                            n,
                            args.steps,
                            mode,
                            pool,
                            args.browsers,
                            args.arrive_within,
                            tuple(args.phases),
                            args.seed,
                            args.learners_nice,
                        )
                    )
                )
                load.append(os.getloadavg()[0])
                print(json.dumps(rows[-1]), flush=True)
    rows = [
        merge([r for r in rows if r["learners"] == n and r["mode"] == mode])
        for n in args.learners
        for mode in args.modes
        if any(r["learners"] == n and r["mode"] == mode for r in rows)
    ]

    pool = "N (as many as learners)" if args.pool == "n" else args.pool
    print(
        f"\nmachine: {where}; load average {min(load):.1f}-{max(load):.1f} during the run; "
        f"Chromium headless; one "
        f"`lab8widgets serve conv` per row (preheat pool {pool}); {args.steps} drag steps per "
        f"learner, one every {STEP_MS} ms; N=1 repeated {args.repeat}x on fresh servers; the "
        f"simulated learners (light clients, Playwright, Chromium) {args.learners_nice} steps "
        f"nicer than the server and its kernels"
    )
    phase_text = {
        "random": f"random: all N drag together, each learner at its own phase of the {STEP_MS} ms "
        f"cadence (a seeded offset in [0, {STEP_MS} ms), seed {args.seed}), as a real class does",
        "aligned": f"aligned: all N drag together with every step in the same instant, every "
        f"{STEP_MS} ms (the worst case, a burst no real class makes)",
    }
    print(
        f"drag phases, one after the other on the same class: "
        f"{'; then '.join(phase_text[p] for p in args.phases)}. Round trip columns: the "
        f"{args.phases[0]} phase" + ("; 'al rt95': the aligned phase" if args.phases[1:] else "")
    )
    print(
        f"each row: up to {args.browsers} learners are real Chromium pages (first widget: navigation"
        " -> the kernel grid on screen; round trip: the drag's edit mark -> conv1's repaint), the"
        " rest light websocket clients (Light: page GET -> widget state loaded; the same comm"
        " message -> its ack); columns b = browsers, l = light clients"
    )
    head = ("learners", "mode", "b+l", "first p50", "first p95", "b first95", "l first95")
    head += ("rt p50 ms", "rt p95 ms", "b rt95", "l rt95")
    head += ("al rt95",) if args.phases[1:] else ()
    head += ("PSS MB/k", "tmpl PSS", "RSS MB")
    print("".join(f"{h:>10}" for h in head))
    for r in rows:
        mode = r["mode"] + ("" if r["mode"] != "fork" or r["fork"] else "(failed)")
        vals = (
            r["learners"],
            mode,
            f"{r['browsers']}+{r['light']}",
            r["first_widget_p50_s"],
            r["first_widget_p95_s"],
            r["browser_first_widget_p95_s"],
            r["light_first_widget_p95_s"],
            r["roundtrip_p50_ms"],
            r["roundtrip_p95_ms"],
            r["browser_roundtrip_p95_ms"],
            r["light_roundtrip_p95_ms"],
            *([r.get("aligned_roundtrip_p95_ms")] if args.phases[1:] else []),
            r["pss_mb_per_learner"],
            r["template_pss_mb"],
            r["total_mb"],
        )
        print("".join(f"{v:>10}" for v in vals))
    print(
        "\nCPU ms per drag step (user+system from /proc, over each phase's drag; steps = every "
        "learner's): server = Voila/jupyter_server; kernels = the kernels there at the start; "
        "refill = the template and kernels started meanwhile; server side = the three, what the "
        "class's machine pays; bench = this process (light clients, Playwright client); browsers "
        "= Chromium and Playwright's driver (on learners' machines in a real class)"
    )
    print(
        f"and each phase's round trip p95 over every learner's first {WARM_STEPS} steps and over "
        "the later ones (ms)"
    )
    head = ("learners", "mode", "phase", "steps", "server", "kernels", "refill", "srv side")
    head += ("bench", "browsers", "rt95", f"first{WARM_STEPS}", "later")
    print("".join(f"{h:>10}" for h in head))
    for r in rows:
        for i, (name, c) in enumerate((r.get("cpu_ms_per_step") or {}).items()):
            pre = "" if i == 0 else f"{name}_"
            if c:
                vals = (r["learners"], r["mode"], name, c["steps"], c["server"], c["kernels"])
                vals += (c["refill"], c["server_side"], c["bench"], c["browsers"])
                vals += (r.get(f"{pre}roundtrip_p95_ms"),)
                vals += (r.get(f"{pre}first_steps_roundtrip_p95_ms"),)
                vals += (r.get(f"{pre}later_steps_roundtrip_p95_ms"),)
                print("".join(f"{v:>10}" for v in vals))
    main_mode = "fork" if any(r["mode"] == "fork" for r in rows) else "preheat"

    def summary(mode: str) -> dict:
        these = [r for r in rows if r["mode"] == mode]
        ok = [r["learners"] for r in these if r["roundtrip_p95_ms"] <= 50 and not r["failed"]]
        largest = max(these, key=lambda r: r["learners"], default={})
        return {
            "max_learners_p95_50ms": max(ok) if ok else 0,
            "first_widget_p95_s": {str(r["learners"]): r["first_widget_p95_s"] for r in these},
            "roundtrip_p95_ms": {str(r["learners"]): r["roundtrip_p95_ms"] for r in these},
            "pss_mb_per_learner": largest.get("pss_mb_per_learner"),
            "aligned_roundtrip_p95_ms": {
                str(r["learners"]): r.get("aligned_roundtrip_p95_ms")
                for r in these
                if "aligned_roundtrip_p95_ms" in r
            },
            "cpu_ms_per_step": {str(r["learners"]): r.get("cpu_ms_per_step") for r in these},
        }

    cold = [r for r in rows if not r["preheat"] and r["learners"] == 1]
    unbundled = [r for r in rows if r["mode"] == "no-bundle" and r["learners"] == 1]
    out = {
        **summary(main_mode),
        "fork": main_mode == "fork" and all(r["fork"] for r in rows if r["mode"] == "fork"),
        "without_fork": summary("preheat") if main_mode == "fork" else None,
        "first_widget_no_preheat_p50_s": cold[0]["first_widget_p50_s"] if cold else None,
        "first_widget_no_bundle_p50_s": unbundled[0]["first_widget_p50_s"] if unbundled else None,
        "kernel_mb": max((r["kernel_mb"] for r in rows), default=None),
        "browsers": args.browsers,
        "rounds": args.learners,
        "arrive_within_s": args.arrive_within,
        "steps": args.steps,
        "phases": args.phases,
        "seed": args.seed,
        "learners_nice": args.learners_nice,
        "load": [round(min(load), 1), round(max(load), 1)],
        "rows": rows,
        "quick": args.quick,
    }
    print(
        f"largest class with round-trip p95 <= 50 ms ({main_mode}): "
        f"{out['max_learners_p95_50ms']}"
        + (
            f"; without forking: {out['without_fork']['max_learners_p95_50ms']}"
            if out["without_fork"]
            else ""
        )
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
