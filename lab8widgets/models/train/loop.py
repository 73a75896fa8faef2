"""One fit loop for every model of the labs: fastai's ``fit_one_cycle`` recipe in plain torch.

Give it a model, a loss function, train and valid data (``(x, y)`` tensors, shuffled here, or any
sized iterable of ``(xb, yb)`` batches; ``x`` may be a tuple of tensors for a model with several
inputs, as tabular's ``model(x_cat, x_cont)``), :class:`FitSettings` and optionally a metrics function. It
streams :class:`TrainEvent` values to ``callback``, checks ``should_stop()`` every step, and guards
the run: a NaN/inf loss, or a loss that grows far above where it started, stops the run with status
"diverged", a message that says so, and the weights of the last epoch that ended well. The forward
pass goes through ``torch.func.functional_call`` so RowAdamW's gathered rows stand in for the full
embedding tables without touching a module's private ``_parameters``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from .._threads import one_thread
from .events import FitSettings, Run, TrainEvent
from .optim import RowAdamW
from .schedule import one_cycle

__all__ = ["OPTIMIZERS", "evaluate", "fit", "model_device", "snapshot"]

OPTIMIZERS = ("auto", "row", "dense")
Data = tuple[torch.Tensor, torch.Tensor] | Iterable


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters live (the CPU for a model without any)."""
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights, on their own device, to restore after a bad step."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _is_x(x: Any) -> bool:
    """A model input: a tensor, or a tuple of tensors (one per ``forward`` argument)."""
    if isinstance(x, tuple | list):
        return bool(x) and all(isinstance(t, torch.Tensor) for t in x)
    return isinstance(x, torch.Tensor)


def _is_tensors(data: Any) -> bool:
    return (
        isinstance(data, tuple | list)
        and len(data) == 2
        and _is_x(data[0])
        and isinstance(data[1], torch.Tensor)
    )


def _map(x: Any, f: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``f`` on a tensor input, or on each tensor of a tuple input."""
    return tuple(f(t) for t in x) if isinstance(x, tuple | list) else f(x)


def _args(x: Any) -> tuple:
    """The positional arguments of ``model(...)`` for input ``x``."""
    return tuple(x) if isinstance(x, tuple | list) else (x,)


def _batches(data: Data, chunk: int, device: torch.device):
    if _is_tensors(data):
        x, y = data
        for i in range(0, len(y), chunk):
            yield _map(x, lambda t, i=i: t[i : i + chunk].to(device)), y[i : i + chunk].to(device)
    else:
        for xb, yb in data:
            yield _map(xb, lambda t: t.to(device)), yb.to(device)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_func: Callable,
    valid: Data,
    metrics: Callable[[torch.Tensor, torch.Tensor], dict] | None = None,
    chunk: int = 8192,
) -> tuple[float, dict[str, float]]:
    """(mean loss, metrics) of ``model`` on ``valid``, in eval mode; ``loss_func`` must average."""
    was = model.training
    model.eval()
    total, n, preds, ys = 0.0, 0, [], []
    try:
        for xb, yb in _batches(valid, chunk, model_device(model)):
            pred = model(*_args(xb))
            total += float(loss_func(pred, yb)) * len(yb)
            n += len(yb)
            if metrics is not None:
                preds.append(pred)
                ys.append(yb)
    finally:
        model.train(was)
    found = {}
    if metrics is not None and preds:
        found = {k: float(v) for k, v in metrics(torch.cat(preds), torch.cat(ys)).items()}
    return total / max(n, 1), found


def fit(
    model: nn.Module,
    loss_func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    train: Data,
    valid: Data,
    settings: FitSettings | None = None,
    *,
    metrics: Callable[[torch.Tensor, torch.Tensor], dict] | None = None,
    optimizer: str = "auto",
    callback: Callable[[TrainEvent], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    seed: int | None = 0,
    lock: Any = None,
    reports_per_epoch: int = 10,
    diverge_factor: float = 4.0,
    pct_start: float = 0.25,
    div: float = 25.0,
    div_final: float = 1e5,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
    single_thread: bool = True,
) -> Run:
    """Train ``model`` with the one-cycle schedule and AdamW; returns the :class:`Run`.

    ``optimizer``: "row" (RowAdamW on the model's ``row_params``: embedding models), "dense"
    (AdamW on every parameter: CNNs, tabular heads) or "auto" (rows when the model has them and
    ``lr × wd`` stays small). ``lock`` is held around each step so readers see whole steps.
    ``diverge_factor``: a train or valid loss this many times the starting valid loss is divergence.
    A Stop keeps the weights of the last finished step and records a ``partial`` epoch.
    """
    s = settings if settings is not None else FitSettings()
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    device = model_device(model)
    tensors = _is_tensors(train)
    if tensors:
        tx, ty = _map(train[0], lambda t: t.to(device)), train[1].to(device)
        n = len(ty)
        bs = min(s.bs, n)
        per_epoch = max(n // bs, 1)
    else:
        bs = s.bs
        per_epoch = len(train)  # type: ignore[arg-type]
    total = per_epoch * s.epochs
    lrs, b1s = one_cycle(total, s.lr, div=div, div_final=div_final, pct_start=pct_start, moms=moms)
    has_rows = bool(getattr(model, "row_params", None))
    dense = optimizer == "dense" or not has_rows
    if optimizer == "auto" and has_rows:
        dense = bool((lrs * s.wd).max() >= 0.5)  # lr × wd this large flips signs: rows can't
    opt = RowAdamW(model, lrs, b1s, s.wd, dense=dense)
    dense_names = [k for k, p in opt.dense_params.items() if p.requires_grad]
    dense_inputs = [opt.dense_params[k] for k in dense_names]
    gen = torch.Generator()
    gen.manual_seed(0 if seed is None else int(seed))
    lock = lock if lock is not None else nullcontext()
    every = max(1, per_epoch // max(1, reports_per_epoch))
    emit = callback or (lambda e: None)
    res = Run(bs=bs)

    with one_thread(single_thread and device.type == "cpu"):
        with lock:
            start_loss, _ = evaluate(model, loss_func, valid)
        good, good_epochs = snapshot(model), 0
        t0 = epoch_start = time.perf_counter()
        model.train()

        def diverge(why: str) -> Run:
            with lock:
                model.load_state_dict(good)
            del res.history[good_epochs:]
            back = f"the end of epoch {good_epochs}" if good_epochs else "the start of training"
            res.status, res.steps, res.seconds = "diverged", opt.t, time.perf_counter() - t0
            res.message = (
                f"{why}: lr={s.lr:g} (wd={s.wd:g}) is too high for this model. Stopped and restored the "
                f"weights from {back}."
            )
            emit(TrainEvent("diverged", epoch=good_epochs, step=opt.t, total=total,
                            seconds=res.seconds, message=res.message))  # fmt: skip
            return res

        def grew(loss: float) -> bool:
            return (
                math.isfinite(start_loss) and start_loss > 0 and loss > diverge_factor * start_loss
            )

        def grown(what: str, loss: float, where: str) -> str:
            return (
                f"{what} grew to {loss:.4g}, {loss / start_loss:.0f}× its start "
                f"({start_loss:.4g}), {where} (a diverging run)"
            )

        for epoch in range(s.epochs):
            if tensors:
                # one gather of the epoch's rows in their shuffled order; batches are slices of it
                perm = torch.randperm(n, generator=gen)[: per_epoch * bs].to(device)
                ex, ey = _map(tx, lambda t, i=perm: t.index_select(0, i)), ty.index_select(0, perm)
                batches: Iterable = (
                    (_map(ex, lambda t, b=b: t[b * bs : (b + 1) * bs]), ey[b * bs : (b + 1) * bs])
                    for b in range(per_epoch)
                )
            else:
                batches = _batches(train, bs, device)
            run_loss, run_n, win_loss, win_n = 0.0, 0, 0.0, 0
            for b, (xb, yb) in enumerate(batches):
                if should_stop is not None and should_stop():
                    with lock:
                        opt.catch_up()
                        vl, mets = evaluate(model, loss_func, valid, metrics)
                    now = time.perf_counter()
                    done = epoch + b / per_epoch
                    if run_n or not res.history:  # else the last epoch's entry is the last step
                        entry = dict(
                            epoch=round(done, 3),
                            train_loss=run_loss / run_n if run_n else math.nan,
                            valid_loss=vl,
                            seconds=now - epoch_start,
                            **mets,
                            partial=True,
                        )
                        res.history.append(entry)
                        emit(_epoch_event(entry, opt.t, total, now - t0))
                    res.status, res.steps, res.seconds = "stopped", opt.t, now - t0
                    res.message = (
                        f"Stopped after {opt.t} of {total} steps (epoch {done:.2f} of {s.epochs})."
                    )
                    emit(TrainEvent("stopped", epoch=done, step=opt.t, total=total,
                                    seconds=res.seconds, message=res.message))  # fmt: skip
                    return res
                xb, yb = _map(xb, lambda t: t.to(device)), yb.to(device)
                with lock:
                    leaves, xl = opt.gather(xb)
                    pred = (  # gathered rows stand in for their tables (no weights are tied)
                        functional_call(model, leaves, _args(xl), tie_weights=False, strict=False)
                        if leaves
                        else model(*_args(xl))
                    )
                    loss = loss_func(pred, yb)
                    lv = float(loss.detach())
                    if not math.isfinite(lv):
                        return diverge(f"Loss became {lv} at step {b + 1} of epoch {epoch + 1}")
                    grads = torch.autograd.grad(
                        loss, [*leaves.values(), *dense_inputs], allow_unused=True
                    )
                    opt.step(leaves, dict(zip([*leaves, *dense_names], grads, strict=True)))
                run_loss += lv
                run_n += 1
                win_loss += lv
                win_n += 1
                if (b + 1) % every == 0 and b + 1 < per_epoch:
                    window = win_loss / win_n
                    if grew(window):
                        return diverge(
                            grown("Train loss", window, f"at step {b + 1} of epoch {epoch + 1}")
                        )
                    emit(
                        TrainEvent(
                            "step",
                            epoch=epoch + (b + 1) / per_epoch,
                            step=opt.t,
                            total=total,
                            seconds=time.perf_counter() - t0,
                            train_loss=window,
                        )
                    )
                    win_loss, win_n = 0.0, 0
            with lock:
                opt.catch_up()
                vl, mets = evaluate(model, loss_func, valid, metrics)
            now = time.perf_counter()
            entry = dict(
                epoch=epoch + 1,
                train_loss=run_loss / max(run_n, 1),
                valid_loss=vl,
                seconds=now - epoch_start,
                **mets,
            )
            epoch_start = now
            res.steps, res.seconds = opt.t, now - t0
            if not math.isfinite(vl):
                return diverge(f"Valid loss became {vl} after epoch {epoch + 1}")
            if grew(vl):
                return diverge(grown("Valid loss", vl, f"after epoch {epoch + 1}"))
            res.history.append(entry)
            good, good_epochs = snapshot(model), epoch + 1
            ev = _epoch_event(entry, opt.t, total, now - t0)
            ev.window_loss = win_loss / win_n if win_n else entry["train_loss"]
            emit(ev)
    res.message = f"Trained {s.epochs} epoch(s), {total} steps of {bs}."
    emit(TrainEvent("done", epoch=s.epochs, step=opt.t, total=total, seconds=res.seconds,
                    message=res.message))  # fmt: skip
    return res


def _epoch_event(entry: dict, step: int, total: int, seconds: float) -> TrainEvent:
    known = {"epoch", "train_loss", "valid_loss", "seconds", "partial"}
    return TrainEvent(
        "epoch",
        epoch=entry["epoch"],
        step=step,
        total=total,
        seconds=seconds,
        train_loss=entry["train_loss"],
        valid_loss=entry["valid_loss"],
        metrics={k: v for k, v in entry.items() if k not in known},
        partial=bool(entry.get("partial", False)),
        window_loss=entry["train_loss"],
    )
