"""The ``lab8widgets`` command: ``serve`` a lab in Voila, ``list`` the labs."""

from __future__ import annotations

import argparse
import sys

from .labs import LABS
from .server import CULL_IDLE, port_free, resolve_lab, serve


def _lab_list() -> str:
    width = max(len(lab.name) for lab in LABS)
    return "\n".join(f"  {lab.name:<{width}}  {lab.description}" for lab in LABS)


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _add_preheat_flag(p_serve: argparse.ArgumentParser) -> None:
    """``--no-preheat`` and ``--pool`` (issue 12): how many kernels wait ready ahead of learners."""
    p_serve.add_argument(
        "--no-preheat",
        action="store_true",
        help="don't keep a kernel per lab running ahead of learners (saves ~0.75 GB per lab; "
        "a learner's first widget then waits for Python and torch to start)",
    )
    p_serve.add_argument(
        "--pool",
        type=_count,
        default=1,
        metavar="N",
        help="kernels kept ready per lab (default 1). For a class arriving at once, about the "
        "class size: every learner beyond the pool waits for a kernel to start (tens of seconds "
        "when several start together); each ready kernel holds ~0.75 GB",
    )


def _add_fork_flags(p_serve: argparse.ArgumentParser) -> None:
    """``--fork`` and ``--class-size`` (issue 22): kernels forked from a warm template."""
    p_serve.add_argument(
        "--fork",
        action="store_true",
        help="fork learners' kernels from one warm template that has imported torch, fastai and "
        "the labs (a kernel starts in under a second and shares that memory)",
    )
    p_serve.add_argument(
        "--class-size",
        type=_count,
        default=0,
        metavar="N",
        help="keep N forked kernels ready, their lab's notebook already run, and refill as "
        "learners take them (implies --fork; start it before the class arrives)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lab8widgets", description="Live labs for fast.ai Part 1, Lesson 8."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve a lab (or the index) as a Voila app")
    p_serve.add_argument("lab", nargs="?", help="a lab name (see `list`) or a path to a .ipynb")
    p_serve.add_argument("--port", type=int, default=8866, help="port to listen on (default 8866)")
    p_serve.add_argument(
        "--ip",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 lets anyone who can "
        "reach the port run the labs' kernels)",
    )
    p_serve.add_argument(
        "--cull-idle",
        type=_seconds,
        default=CULL_IDLE,
        metavar="SECONDS",
        help=f"shut down a kernel after this long without any use, even if a tab still shows it "
        f"(default {CULL_IDLE}; 0: never). A closed page frees its kernel at once, or within a "
        "minute if the browser died.",
    )
    p_serve.add_argument("--no-browser", action="store_true", help="don't open a browser")
    _add_preheat_flag(p_serve)
    _add_fork_flags(p_serve)
    sub.add_parser("list", help="list the labs")
    args, extra = parser.parse_known_args(argv)

    if args.command == "list":
        print(_lab_list())
        return 0

    if extra and not all(a.startswith("--") for a in extra):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        resolve_lab(args.lab)
    except KeyError:
        print(
            f"lab8widgets: unknown lab {args.lab!r}. The labs are:\n{_lab_list()}", file=sys.stderr
        )
        return 2
    except FileNotFoundError as e:
        print(f"lab8widgets: {e}", file=sys.stderr)
        return 2
    if args.no_preheat and args.pool != 1:
        print("lab8widgets: --pool keeps preheated kernels; drop --no-preheat", file=sys.stderr)
        return 2
    if args.class_size and (args.no_preheat or args.pool != 1):
        print(
            "lab8widgets: --class-size N keeps N kernels ready; drop --pool and --no-preheat",
            file=sys.stderr,
        )
        return 2
    if not 0 < args.port < 65536:
        print(f"lab8widgets: --port must be between 1 and 65535, got {args.port}", file=sys.stderr)
        return 2
    if not port_free(args.ip, args.port):
        print(
            f"lab8widgets: port {args.port} on {args.ip} is already in use; "
            f"choose another with --port N",
            file=sys.stderr,
        )
        return 1
    serve(
        args.lab,
        port=args.port,
        ip=args.ip,
        open_browser=not args.no_browser,
        cull_idle=args.cull_idle,
        extra=extra,
        preheat=not args.no_preheat,
        pool=args.pool,
        fork=args.fork,
        class_size=args.class_size,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
