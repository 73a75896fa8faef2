"""Lesson 8, claim 1: a module only tracks (and an optimizer only moves) tensors wrapped in
``nn.Parameter``: ``ToggleModule`` holds ``a`` as a plain tensor or a parameter, beside an ``nn.Linear``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_real

# --- 1. nn.Parameter ------------------------------------------------------------------------------


class ToggleModule(nn.Module):
    """The lesson's ``class T(Module)``: ``a`` is a plain tensor or an ``nn.Parameter``, beside an
    ``nn.Linear(n_in, n_out)`` whose ``weight`` (out × in) and ``bias`` (out) are always tracked."""

    def __init__(self, use_parameter: bool = True, n_in: int = 3, n_out: int = 2, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.lin = nn.Linear(n_in, n_out)
        a = torch.ones(n_in)
        self.a = nn.Parameter(a) if use_parameter else a

    @property
    def use_parameter(self) -> bool:
        return isinstance(self.a, nn.Parameter)

    def set_use_parameter(self, on: bool) -> None:
        """Wrap ``a`` in ``nn.Parameter`` or unwrap it, keeping its values."""
        if bool(on) == self.use_parameter:
            return
        values = self.a.detach().clone()
        if on:  # a new parameter joins the module where its other parameters live
            values = values.to(self.lin.weight)
        del self.a  # drops it from _parameters too, else assigning a plain tensor is refused
        self.a = nn.Parameter(values) if on else values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_a()
        return self.lin(x * self.a)

    def check_a(self) -> None:
        """``model.to()`` / ``.cuda()`` / ``.double()`` move parameters and buffers only: a plain
        tensor attribute stays behind. Say so instead of torch's device/dtype mismatch."""
        w = self.lin.weight
        if self.a.device != w.device or self.a.dtype != w.dtype:
            raise ValueError(
                f"a is a plain tensor ({self.a.dtype} on {self.a.device}) that model.to() left "
                f"behind: lin.weight is {w.dtype} on {w.device}. Modules move only what they track "
                "(parameters and buffers): wrap a in nn.Parameter, or move it yourself."
            )

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor the module holds, tracked or not (``named_parameters`` lists only some)."""
        return {"a": self.a, "lin.weight": self.lin.weight, "lin.bias": self.lin.bias}


@dataclass
class StepResult:
    """One SGD step: each tensor before and after, whether it moved, and whether it was tracked."""

    before: dict[str, torch.Tensor]
    after: dict[str, torch.Tensor]
    moved: dict[str, bool]
    tracked: dict[str, bool]
    loss: float


def sgd_step(model: ToggleModule, lr: float = 0.1, seed: int = 0) -> StepResult:
    """One ``torch.optim.SGD(model.parameters(), lr)`` step on an MSE loss: only parameters move."""
    lr = check_real("lr", lr, 0.0, 100.0)
    gen = torch.Generator().manual_seed(seed)
    w = model.lin.weight
    x = torch.randn(8, model.lin.in_features, generator=gen).to(w)
    y = torch.randn(8, model.lin.out_features, generator=gen).to(w)
    model.check_a()
    tracked_ids = {id(p) for p in model.parameters()}
    before = {k: v.detach().clone() for k, v in model.tensors().items()}
    tracked = {k: id(v) in tracked_ids for k, v in model.tensors().items()}
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    loss = F.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()
    after = {k: v.detach().clone() for k, v in model.tensors().items()}
    moved = {k: not torch.equal(before[k], after[k]) for k in before}
    return StepResult(before, after, moved, tracked, float(loss.detach()))
