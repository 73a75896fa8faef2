"""AdamW the way fastai runs it (``Adam(decouple_wd=True)``), with a row-wise path for embeddings.

Why rows: a batch touches a few hundred rows of each embedding table, but dense AdamW reads and
writes every row at every step. ``RowAdamW`` updates only the rows a batch uses and catches each row
up on the steps it missed (weight decay and the fading momentum) in closed form when it is next
used, so the result is dense AdamW up to ``eps`` inside the missed steps. ``dense=True`` (or a model
without ``row_params``: CNNs, dense layers) is plain AdamW with fastai's ``wd_bn_bias=False``.
Every state tensor lives on the device of the parameter it belongs to.

Dense parameters on the CPU or a GPU are stepped by torch's fused AdamW kernel (the one behind
``torch.optim.AdamW(fused=True)``, called directly: the optimizer object's Python costs ~4× the
kernel at the lesson's sizes), two calls a step instead of ~8 small ops per parameter. It computes
the same AdamW (``p ← p·(1 − lr·wd) − lr/bc1 · m / (√v/√bc2 + eps)``, β1 of the step in bc1, as
fastai); ``FUSED = False`` (or a torch without the kernel) takes the per-parameter path.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["RowAdamW", "norm_bias_names"]

_FADED = 1e-12  # a catch-up factor below this zeroes the momentum it scales
_TINY = 1e-30  # optimizer state below this is flushed to zero at catch-ups
_F32_TINY = float(torch.finfo(torch.float32).tiny)
FUSED = hasattr(torch, "_fused_adamw_")  # torch's fused AdamW kernel (CPU since torch 2.4)


class RowAdamW:
    """fastai's ``Adam(decouple_wd=True)`` (AdamW) that updates only the embedding rows a batch uses.

    Rows skipped at a step still decay (weight decay) and drift (momentum) in dense AdamW; here
    those steps are applied in closed form when the row is next used (or by ``catch_up``), from
    prefix sums over the schedule. Exact except that ``eps`` inside skipped steps is taken at its
    scale when the row was last used. ``dense=True`` updates every row every step (plain AdamW),
    which also handles schedules where ``lr * wd`` is large enough to flip weights' signs.
    """

    def __init__(
        self,
        model: nn.Module,
        lrs: np.ndarray,
        moms: np.ndarray,
        wd: float,
        sqr_mom: float = 0.99,
        eps: float = 1e-5,
        dense: bool = False,
    ):
        self.model = model
        self.device = next(iter(model.parameters())).device  # state follows the model's device
        self.eps, self.sqr_mom, self.wd = float(eps), float(sqr_mom), float(wd)
        self.dense = bool(dense)
        self.params = dict(model.named_parameters())
        rows = {} if self.dense else getattr(model, "row_params", {})
        self.rows = {n: c for n, c in rows.items() if n in self.params}
        self.dense_params = {n: p for n, p in self.params.items() if n not in self.rows}
        # fastai's wd_bn_bias=False: no weight decay on Linear/BatchNorm biases and norm weights
        self.no_wd = norm_bias_names(model)
        # row tables as (n_rows, width) views, their state as one (n_rows, 2*width) [m | v] tensor
        self.flat = {n: self.params[n].data.view(self.params[n].shape[0], -1) for n in self.rows}
        self.row_state = {
            n: torch.zeros(f.shape[0], 2 * f.shape[1], dtype=f.dtype, device=f.device)
            for n, f in self.flat.items()
        }
        self.state = {
            n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in self.dense_params.items()
        }
        # fused steps: the parameters with and without weight decay, and the step count (a tensor)
        dtypes = {p.dtype for p in self.dense_params.values()}
        self.fused = (
            FUSED
            and bool(self.dense_params)  # row tables only (DotProductBias): nothing to fuse
            and self.device.type in ("cpu", "cuda")
            and dtypes <= {torch.float32, torch.float64}
            and len({p.device for p in self.dense_params.values()}) <= 1
            # the kernel walks raw memory: a channels_last weight's state and gradient would not
            # line up element for element, so every parameter must be plainly contiguous
            and all(p.is_contiguous() for p in self.dense_params.values())
        )
        self._groups = [
            [n for n in self.dense_params if (n in self.no_wd) == off] for off in (False, True)
        ]
        self._step_t = torch.zeros((), dtype=torch.float32, device=self.device)
        self.last: dict[int, torch.Tensor] = {}
        for n, c in self.rows.items():
            self.last.setdefault(
                c, torch.zeros(self.flat[n].shape[0], dtype=torch.long, device=self.flat[n].device)
            )
        self.t = 0
        self._batch: dict = {}
        self._tables(np.asarray(lrs, np.float64), np.asarray(moms, np.float64))

    def _tables(self, lrs: np.ndarray, moms: np.ndarray) -> None:
        """Per-step constants, and prefix sums for catching rows up in closed form.

        Between uses a row's momentum m and square average v only decay, so after k its update
        at step s is ``(m_k / sqrt(v_k)) * b_s * prod_{k<j<=s} b1_j / sqrt(b2)``, shrunk by the weight
        decay still to come. With ``r_j = b1_j / (sqrt(b2) * d_j)`` and ``H[k] = sum_{s>k} b_s
        prod_{k<j<=s} r_j`` (a backward recursion), the total from k to s is
        ``D(k,s) * (p_k - u_k * (H[k] - R(k,s) H[s]))``.
        """
        T = len(lrs)
        t = np.arange(1, T + 1, dtype=np.float64)
        b2 = self.sqr_mom
        self.b1, self.lr = moms, lrs
        self.d = 1.0 - lrs * self.wd  # decoupled weight decay factor
        self.a = lrs / (1.0 - moms**t)  # lr / bias correction 1
        self.sb2 = np.sqrt(1.0 - b2**t)  # sqrt(bias correction 2)
        if not self.rows:
            return
        if (self.d <= 0).any():
            raise ValueError("lr × wd ≥ 1 flips the weights' signs: use dense=True")
        b = self.a * self.sb2
        r = moms / (math.sqrt(b2) * self.d)
        H = np.zeros(T + 1)
        for k in range(T - 1, -1, -1):
            H[k] = r[k] * (b[k] + H[k + 1])

        def prefix(v: np.ndarray) -> np.ndarray:
            return np.concatenate([[0.0], np.cumsum(v)])

        sb2 = np.concatenate([[0.0], self.sb2])
        self.tab = torch.tensor(
            np.stack(
                [
                    prefix(np.log(self.d)),  # log prod d: weight decay
                    prefix(np.log(r)),  # log prod r: the momentum tail's weights
                    prefix(np.log(moms)),  # log prod b1: m's decay
                    np.arange(T + 1) * math.log(b2),  # log b2^k: v's decay
                    H,
                    self.eps * sb2,  # eps on m / sqrt(v)'s scale at the row's last use
                ],
                axis=1,
            ),
            dtype=torch.float64,
            device=self.device,
        )

    def _coefs(self, k: torch.Tensor, s: int) -> torch.Tensor:
        """(rows, 5) float32: weight decay D, tail F, m and v decay, eps, carrying k to s."""
        rv = self.tab.index_select(0, k)
        cur = self.tab[s]
        e = (cur[:4] - rv[:, :4]).exp_()
        F = rv[:, 4] - e[:, 1] * cur[4]
        fade = e[:, 2:4]
        fade.masked_fill_(fade < _FADED, 0.0)  # faded momentum is zero: denormals are ~100x slower
        return torch.stack([e[:, 0], F, e[:, 2], e[:, 3], rv[:, 5] + _F32_TINY], 1).float()

    @staticmethod
    def _tail(p: torch.Tensor, m: torch.Tensor, v: torch.Tensor, c: torch.Tensor) -> None:
        """Apply the skipped steps' weight decay and momentum to p in place (m, v not decayed)."""
        u = m / v.sqrt().add_(c[:, 4:5])
        p.sub_(u.mul_(c[:, 1:2])).mul_(c[:, 0:1])

    def gather(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Rows this batch uses, caught up to now, as leaves for autograd; and x renumbered to them."""
        if not self.rows:
            return {}, x
        s = self.t
        cols = [x[:, 0], x[:, 1]]
        batch = {}
        for c in self.last:
            rows, inv = torch.unique(x[:, c], return_inverse=True)
            cols[c] = inv
            batch[c] = (rows, self._coefs(self.last[c].index_select(0, rows), s) if s else None)
        leaves = {}
        self._batch = {"cols": batch}
        for n, c in self.rows.items():
            rows, coefs = batch[c]
            p = self.flat[n].index_select(0, rows)
            st = self.row_state[n].index_select(0, rows)
            w = p.shape[1]
            if coefs is not None:
                self._tail(p, st[:, :w], st[:, w:], coefs)
            self._batch[n] = st
            leaves[n] = p.view(-1, *self.params[n].shape[1:]).requires_grad_()
        return leaves, torch.stack(cols, 1)

    def step(self, leaves: dict[str, torch.Tensor], grads: dict[str, torch.Tensor]) -> None:
        """Apply step t+1: rows in ``leaves`` get their gradients; dense parameters too."""
        self.t += 1
        i = self.t - 1
        b1, b2 = float(self.b1[i]), self.sqr_mom
        d, sb2, a = float(self.d[i]), float(self.sb2[i]), float(self.a[i])
        eps_sb2, step = self.eps * sb2, -a * sb2
        batch = self._batch.get("cols", {})
        with torch.no_grad():
            for n, leaf in leaves.items():
                rows, coefs = batch[self.rows[n]]
                p = leaf.detach().view(len(rows), -1)
                g = grads[n].view(len(rows), -1)
                st = self._batch[n]
                w = p.shape[1]
                m, v = st[:, :w], st[:, w:]
                if coefs is None:
                    m.mul_(b1)
                    v.mul_(b2)
                else:  # the skipped steps' decay of m and v, folded into this step's
                    m.mul_(coefs[:, 2:3] * b1)
                    v.mul_(coefs[:, 3:4] * b2)
                m.add_(g, alpha=1 - b1)
                v.addcmul_(g, g, value=1 - b2)
                if self.wd:
                    p.mul_(d)
                p.addcdiv_(m, v.sqrt().add_(eps_sb2), value=step)
                self.flat[n].index_put_((rows,), p)
                self.row_state[n].index_put_((rows,), st)
            if self.fused:
                self._fused_step(grads, float(self.lr[i]), b1, b2)
            for n, p in ({} if self.fused else self.dense_params).items():
                g = grads.get(n)
                if g is None:
                    continue
                m, v = self.state[n]
                if self.wd and n not in self.no_wd:
                    p.data.mul_(d)
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.data.addcdiv_(m, v.sqrt().add_(eps_sb2), value=step)
            for c, (rows, _) in batch.items():
                self.last[c].index_fill_(0, rows, self.t)
        self._batch = {}

    def _fused_step(self, grads: dict[str, torch.Tensor], lr: float, b1: float, b2: float) -> None:
        """This step's AdamW on every dense parameter with a gradient, by torch's fused kernel."""
        self._step_t.fill_(self.t)
        for names, wd in zip(self._groups, (self.wd, 0.0), strict=True):
            ps, gs, ms, vs = [], [], [], []
            for n in names:
                g = grads.get(n)
                if g is None:
                    continue
                ps.append(self.dense_params[n].data)
                gs.append(g.contiguous())
                m, v = self.state[n]
                ms.append(m)
                vs.append(v)
            if ps:
                torch._fused_adamw_(
                    ps,
                    gs,
                    ms,
                    vs,
                    [],
                    [self._step_t] * len(ps),
                    lr=lr,
                    beta1=b1,
                    beta2=b2,
                    weight_decay=wd,
                    eps=self.eps,
                    amsgrad=False,
                    maximize=False,
                )

    def catch_up(self) -> None:
        """Bring every row to the current step, so the model's tensors are what dense AdamW holds."""
        if not self.rows or not self.t:
            return
        with torch.no_grad():
            for c, last in self.last.items():
                stale = (last < self.t).nonzero().squeeze(1)
                if not len(stale):
                    continue
                coefs = self._coefs(last.index_select(0, stale), self.t)
                for n, col in self.rows.items():
                    if col != c:
                        continue
                    p = self.flat[n].index_select(0, stale)
                    st = self.row_state[n].index_select(0, stale)
                    w = p.shape[1]
                    m, v = st[:, :w], st[:, w:]
                    self._tail(p, m, v, coefs)
                    m.mul_(coefs[:, 2:3])
                    v.mul_(coefs[:, 3:4])
                    st.masked_fill_(st.abs() < _TINY, 0.0)  # keep denormals out of the state
                    self.flat[n].index_put_((stale,), p)
                    self.row_state[n].index_put_((stale,), st)
                last.index_fill_(0, stale, self.t)


def norm_bias_names(model: nn.Module) -> set[str]:
    """Names of parameters fastai leaves out of weight decay (``wd_bn_bias=False``)."""
    norm = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.InstanceNorm1d, nn.GroupNorm)
    out = set()
    for mname, mod in model.named_modules():
        prefix = f"{mname}." if mname else ""
        if isinstance(mod, norm):
            out.update(prefix + n for n, _ in mod.named_parameters(recurse=False))
        elif isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d)) and mod.bias is not None:
            out.add(prefix + "bias")
    return out
