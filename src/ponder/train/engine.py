"""The training engine: deep supervision with ACT halting, one optimizer step per segment.

A persistent batch of B rows ("rows") is worked on. Each step runs ONE segment (one model
call) on the current rows and takes one optimizer step. A row halts when its segment count
reaches N_sup or when its halting rule says so (ponder.models.halting: TRM's q_halt > 0 or
HRM's Q-learning); at the next step its carry is reset and it takes a fresh example.

The engine knows no task and no model by name: it needs a model with the carry interface,
an objective (ponder.objectives: the loss of a segment, its diagnostics and warnings), a
loader with `batch(step)` and an `evaluate(model) -> metrics` callback. The model's own
auxiliary losses (outputs.aux_losses, already weighted) are added to the objective's. A loader may also
have `log_fields(step)` (extra training-log fields) and `state_dict` / `load_state_dict`
(state beyond the step, saved with checkpoints): the curriculum has both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ponder.config import RunConfig
from ponder.errors import TrainingDiverged
from ponder.models.base import (
    carry_detach,
    carry_from_tensors,
    carry_to_tensors,
    carry_where,
)
from ponder.models.halting import halt_decision, halt_signal, halting_counts, q_continue_target
from ponder.objectives.base import Objective
from ponder.train import checkpoint as ckpt
from ponder.train.ema import ModelEMA
from ponder.train.logger import MetricsLogger, MetricSums, Progress
from ponder.train.optim import (
    build_optimizer,
    build_sparse_optimizer,
    encoder_lr_at,
    is_encoder_parameter,
    lr_at,
    puzzle_emb_lr_at,
    set_lr,
)
from ponder.train.precision import NAMES
from ponder.train.progressive import progressive_loss
from ponder.train.resume import check_resume_config, load_resumable
from ponder.train.runtime import Runtime
from ponder.train.stopping import StopRules
from ponder.train.topk import TopCheckpoints

Evaluate = Callable[[nn.Module], dict[str, float]]


@dataclass
class Rows:
    """The examples being worked on: their data, carry, segments done and halted flags."""

    carry: object
    data: dict[str, torch.Tensor]  # inputs/labels (B, L), puzzle_identifiers (B,)
    steps: torch.Tensor  # (B,) int, segments run on the current example
    halted: torch.Tensor  # (B,) bool; halted rows take a fresh example next step
    limit: torch.Tensor  # (B,) int, segments the current example gets (N_sup, or drawn)


class Trainer:
    def __init__(
        self,
        config: RunConfig,
        model: nn.Module,
        loader,
        runtime: Runtime,
        run_dir: Path,
        evaluate: Evaluate,
        objective: Objective,
        data_spec: dict | None = None,
    ):
        self.cfg = config
        self.tc = config.train
        self.rt = runtime
        self.run_dir = run_dir
        self.model = model.to(runtime.device)
        self.net = self._wrap_ddp(self.model)
        self.optimizer = build_optimizer(self.model, self.tc)
        self.sparse = build_sparse_optimizer(self.model, self.tc)
        self.ema = ModelEMA(self.model, self.tc.ema_rate) if self.tc.ema else None
        self.loader = loader
        self.evaluate = evaluate
        self.objective = objective  # the loss, and what it logs and warns about
        self.batch_transform = objective.batch_transform()  # on fresh examples (MLM-U)
        self.encoder = getattr(config.model, "demo_encoder", None)  # its own lr schedule
        self.data_spec = data_spec or {}  # saved with checkpoints, checked when reloaded
        self.step = 0
        self.nonfinite_steps = 0
        self.best: float | None = None
        self.stop_rules = StopRules(self.tc)
        self.stop_reason: str | None = None
        self.top = TopCheckpoints(run_dir / "checkpoints", self.tc.keep_top_k)
        self.encoder_params = [
            p for n, p in self.model.named_parameters() if is_encoder_parameter(n)
        ]
        self.rows = self._fresh_rows()
        self.sums = MetricSums()
        self.logger = MetricsLogger(run_dir, enabled=runtime.is_main)

    # ----- setup -------------------------------------------------------------------------
    def _wrap_ddp(self, model: nn.Module) -> nn.Module:
        if self.rt.world_size == 1:
            return model
        ids = [self.rt.device.index] if self.rt.device.type == "cuda" else None
        # Buffers are not broadcast: the fixed ones are equal on every rank already, and the
        # puzzle-embedding table (up to ~1M rows) is kept equal by its own optimizer.
        return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)

    def _fresh_rows(self) -> Rows:
        first = self._to_device(self.loader.batch(0))
        b = first["inputs"].shape[0]
        dev = self.rt.device
        carry = self.model.init_carry(b, dev, first["inputs"].shape[1])
        steps = torch.zeros(b, dtype=torch.long, device=dev)
        halted = torch.ones(b, dtype=torch.bool, device=dev)
        limit = torch.full_like(steps, self.tc.N_sup)
        return Rows(carry=carry, data=first, steps=steps, halted=halted, limit=limit)

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.rt.device, non_blocking=True) for k, v in batch.items()}

    # ----- one step ------------------------------------------------------------------------
    def _refill(self, batch: dict[str, torch.Tensor]) -> None:
        """Halted rows take the new batch's row at the same index and a fresh carry."""
        rows, halted = self.rows, self.rows.halted
        length = rows.data["inputs"].shape[1]
        fresh = self.model.init_carry(halted.shape[0], self.rt.device, length)
        rows.carry = carry_where(halted, fresh, rows.carry)
        for key, new in batch.items():
            mask = halted.view(-1, *([1] * (new.dim() - 1)))
            rows.data[key] = torch.where(mask, new, rows.data[key])
        rows.steps = torch.where(halted, torch.zeros_like(rows.steps), rows.steps)
        if self.tc.random_depth:  # each fresh example gets 1..N_sup segments
            drawn = torch.randint_like(rows.limit, low=1, high=self.tc.N_sup + 1)
            rows.limit = torch.where(halted, drawn, rows.limit)
        if self.tc.progressive_segments:
            self._pre_roll(halted)

    @torch.no_grad()
    def _pre_roll(self, fresh: torch.Tensor) -> None:
        """DeepThinking's progressive loss in segment form: each fresh row first runs
        k ~ U{0..train.progressive_segments} segments without gradient or loss, so the
        model learns to go on from states it reached itself, not only from the start."""
        rows = self.rows
        k = torch.randint_like(rows.steps, 0, self.tc.progressive_segments + 1) * fresh
        for i in range(int(k.max())):
            with self.rt.autocast():
                carry, _ = self.model(rows.carry, rows.data)
            rows.carry = carry_where(k > i, carry_detach(carry), rows.carry)

    def train_step(self, batch: dict[str, torch.Tensor]) -> None:
        batch = self._to_device(batch)
        if self.batch_transform is not None:
            batch = self.batch_transform(batch)
        if self.tc.progressive_alpha is not None:
            self.rows.halted = torch.ones_like(self.rows.halted)  # every row starts afresh
        self._refill(batch)
        set_lr(self.optimizer, lr_at(self.step, self.tc), self._encoder_lr(self.step))
        if hasattr(self.model, "set_progress"):  # e.g. PoH anneals its entropy term
            self.model.set_progress(self.step / self.tc.steps)
        self.sparse.lr = puzzle_emb_lr_at(self.step, self.tc)
        if self.tc.progressive_alpha is not None:
            self._progressive_step()
            return
        steps = self.rows.steps + 1  # segments run on each row's example, this one included
        carry, out, loss, parts, correct = self._segment(steps)
        finite = self._update(loss)
        self.rows.carry, self.rows.steps = carry_detach(carry), steps
        self._decide_halting(out, steps, restart_all=not finite)
        if finite:  # a skipped step's NaN must not poison the logged means
            self._record(loss, parts, correct, out)

    def _update(self, loss: torch.Tensor) -> bool:
        """One optimizer step on `loss`, or none when it is NaN or infinite (counted, and
        the run stops after too many); whether it was finite."""
        self.optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(loss))
        if finite:
            loss.backward()
            self._clip_and_step()
        else:
            self._skip_nonfinite()
        return finite

    def _progressive_step(self) -> None:
        """train.progressive_alpha: both branches of the progressive loss over N_sup
        segments from fresh rows (ponder.train.progressive), one optimizer step; every row
        then takes a new example."""
        rows, tc = self.rows, self.tc
        length = rows.data["inputs"].shape[1]

        def fresh_carry():
            return self.model.init_carry(rows.halted.shape[0], self.rt.device, length)

        with self.rt.autocast():
            result = progressive_loss(
                self.net, fresh_carry, self.objective, rows.data, tc.N_sup,
                tc.progressive_alpha, tc.progressive_depth, tc.stability_weight,
            )  # fmt: skip
        loss, parts = result.loss, result.parts
        for name, term in result.outputs.aux_losses.items():
            loss = loss + term
            parts[name] = term.detach()
        parts.update(self.objective.diagnostics(result.outputs, rows.data))
        finite = self._update(loss)
        rows.steps = torch.full_like(rows.steps, tc.N_sup)
        if finite:
            self._record(loss, parts, result.correct, result.outputs)

    def _segment(self, steps: torch.Tensor):
        """One model call on the rows and its loss: (carry, outputs, loss, parts, correct)."""
        rows, tc = self.rows, self.tc
        with self.rt.autocast():
            carry, out = self.net(rows.carry, rows.data)
            target = None
            if tc.halting == "hrm":  # Q-learning: one extra forward for q_continue's target
                target = q_continue_target(self.model, carry, rows.data, steps, tc.N_sup)
        loss, parts, correct = self.objective.loss(out, rows.data, target)
        for name, term in out.aux_losses.items():  # the model's own terms, already weighted
            loss = loss + term
            parts[name] = term.detach()
        parts.update(self.objective.diagnostics(out, rows.data))
        return carry, out, loss, parts, correct

    def _encoder_lr(self, step: int) -> float:
        return encoder_lr_at(step, self.tc, self.encoder)

    @torch.no_grad()
    def _decide_halting(self, out, steps: torch.Tensor, restart_all: bool) -> None:
        tc = self.tc
        self.rows.halted = halt_decision(
            out,
            steps,
            rule=tc.halting,
            n_sup=tc.N_sup,
            min_steps=tc.halt_min_steps,
            explore_prob=tc.halt_exploration_prob,
        )
        self.rows.halted |= steps >= self.rows.limit  # random_depth's own budget
        if restart_all:  # a carry that produced NaN must not live on: start afresh
            self.rows.halted = torch.ones_like(self.rows.halted)

    def _skip_nonfinite(self) -> None:
        """No update for this step; stop once too many were skipped."""
        self.sparse.zero_grad()
        self.nonfinite_steps += 1
        self.sums.add("nonfinite_steps", 1.0, 1.0)
        if self.nonfinite_steps > self.tc.max_nonfinite_steps:
            raise TrainingDiverged(
                f"training diverged: {self.nonfinite_steps} non-finite losses by step "
                f"{self.step + 1} (train.max_nonfinite_steps={self.tc.max_nonfinite_steps}); "
                "try a lower train.lr or train.grad_clip"
            )

    def _clip_and_step(self) -> None:
        # Both norms before clipping; clipping returns the total it measured, so the total
        # over all parameters is computed once.
        encoder = _grad_norm(self.encoder_params) if self.encoder_params else None
        total = None
        if self.tc.grad_clip > 0:
            total = nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.grad_clip)
            self.sums.add_mean("grad_norm", total, 1.0)
        if encoder is not None:  # where the gradient goes: the encoder or the trunk
            total = _grad_norm(self.model.parameters()) if total is None else float(total)
            self.sums.add_mean("grad_norm_encoder", encoder, 1.0)
            self.sums.add_mean("grad_norm_trunk", max(0.0, total**2 - encoder**2) ** 0.5, 1.0)
        self.optimizer.step()
        self.sparse.step()
        if self.ema is not None:
            self.ema.update(self.model)

    def _record(self, loss, parts, correct, out) -> None:
        s, halted = self.sums, self.rows.halted
        wants_halt = halt_signal(out, self.tc.halting)
        for name, (hits, count) in halting_counts(wants_halt, correct).items():
            s.add(name, hits, count)
        s.add_mean("loss", loss, 1.0)  # tensors: read back once per log, not per step
        for name, value in parts.items():
            s.add_mean(name, value, 1.0)
        # Answers count when their row halts: exact (matches the stored label) and steps.
        n_done = halted.sum()
        s.add("label_exact", (correct & halted).sum(), n_done)
        s.add("halt_steps", (self.rows.steps * halted).sum(), n_done)
        if self.tc.official_metrics:
            self._record_official(out, correct, n_done)

    def _record_official(self, out, correct, n_done) -> None:
        """train.official_metrics: the official loss head's accuracy and q_halt_accuracy,
        each summed over the halted rows, as its log divides them by the halted count."""
        halted = self.rows.halted
        shares = self.objective.cell_shares(out, self.rows.data)  # (B,)
        self.sums.add("accuracy", (shares * halted).sum(), n_done)
        agrees = (out.q_halt >= 0) == correct  # counts a rightly running row as a hit
        self.sums.add("q_halt_accuracy", (agrees & halted).sum(), n_done)

    # ----- the loop ----------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        progress = Progress(self.tc.steps, initial=self.step, enabled=self.rt.is_main)
        last_eval: dict[str, float] = {}
        self._logged_step = self.step
        tick = time.perf_counter()
        with progress, self.logger:
            while self.step < self.tc.steps:
                self.train_step(self._next_batch())
                self.step += 1
                if self.step % self.tc.log_every == 0 or self.step == self.tc.steps:
                    tick = self._log(progress, tick)
                if self._due(self.tc.eval_every):
                    last_eval = self.run_eval(progress)
                    self.stop_reason = self.stop_rules.check(self.step, last_eval)
                if self._due(self.tc.checkpoint_every) or self.stop_reason:
                    self.save("last")
                if self.stop_reason:
                    progress.write(f"stopping at step {self.step}: {self.stop_reason}")
                    return last_eval
            # Periodic evals skip the last step (see _due), so the final one always runs here.
            last_eval = self.run_eval(progress)
            self.save("last")
        return last_eval

    def _next_batch(self) -> dict[str, torch.Tensor]:
        """This step's batch. Only halted rows take it (_refill), so a loader that makes
        rows on demand (fresh skill instances) is told which: the rest stay unmade."""
        if getattr(self.loader, "makes_rows_on_demand", False):
            return self.loader.batch(self.step, needed=self.rows.halted.cpu().numpy())
        return self.loader.batch(self.step)

    def _due(self, every: int) -> bool:
        return every > 0 and self.step % every == 0 and self.step < self.tc.steps

    def _log(self, progress: Progress, tick: float) -> float:
        self.sums.all_reduce()
        means = self.sums.means()
        now = time.perf_counter()
        steps = self.step - self._logged_step
        self._logged_step = self.step
        rows = self.tc.global_batch_size * steps  # batch rows run since the last log
        means["examples_per_s"] = rows / max(now - tick, 1e-9)
        means["lr"] = lr_at(self.step - 1, self.tc)
        if self.encoder_params:
            means["encoder_lr"] = self._encoder_lr(self.step - 1)
        for note in self.objective.log_notes(self.step, means) if self.rt.is_main else ():
            progress.write(note)
        if hasattr(self.loader, "log_fields"):  # the curriculum's stage of the last step
            means.update(self.loader.log_fields(self.step - 1))
        self.logger.log(self.step, means)
        fields = {k: means.get(k) for k in ("loss", "label_exact", "halt_steps")}
        progress.update(steps, **fields, ex_s=means["examples_per_s"])
        self.sums.reset()
        return now

    def eval_model(self) -> nn.Module:
        """The weights to judge: the EMA copy when EMA is on (as in TRM)."""
        return self.ema.module if self.ema is not None else self.model

    def run_eval(self, progress: Progress | None = None) -> dict[str, float]:
        model = self.eval_model()
        was_training = model.training
        model.eval()
        with torch.no_grad(), self.rt.autocast():
            metrics = self.evaluate(model)
        model.train(was_training)
        self.logger.log(self.step, metrics, prefix="eval")
        if progress is not None and self.rt.is_main:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if "ci" not in k)
            progress.write(f"eval @ step {self.step}: {shown}")
        if self.rt.is_main:
            self.top.offer(self.step, metrics.get("val_loss"), self.checkpoint_tensors)
        score = metrics.get("exact")
        # Ties go to the later checkpoint: it has trained longer on the same score.
        if score is not None and (self.best is None or score >= self.best):
            self.best = score
            self.save("best")
        return metrics

    # ----- checkpoints -------------------------------------------------------------------
    def checkpoint_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        if self.ema is not None:
            tensors.update({f"ema.{k}": v for k, v in self.ema.state_dict().items()})
        opt_tensors, opt_state = ckpt.optimizer_to_flat(self.optimizer, "optim")
        tensors.update({f"sparse.{k}": v for k, v in self.sparse.state_dict().items()})
        rng_tensors, rng_state = ckpt.rng_to_flat()
        tensors.update(opt_tensors)
        tensors.update(rng_tensors)
        tensors.update(carry_to_tensors(self.rows.carry, "rows.carry."))
        tensors.update({f"rows.data.{k}": v for k, v in self.rows.data.items()})
        tensors["rows.steps"] = self.rows.steps
        tensors["rows.halted"] = self.rows.halted
        tensors["rows.limit"] = self.rows.limit
        state = {
            "step": self.step,
            "best": self.best,
            "stop_rules": self.stop_rules.state(),
            "top_checkpoints": self.top.state(),
            "world_size": self.rt.world_size,
            "optim": opt_state,
            "rng": rng_state,
            "config": self.cfg.to_dict(),
            "data_spec": self.data_spec,
            # what `precision: auto` settled on, which a resumed run keeps
            "precision": {"name": NAMES[self.rt.dtype], "device": self.rt.device.type},
        }
        if hasattr(self.loader, "state_dict"):  # e.g. the stage an accuracy curriculum reached
            state["loader"] = self.loader.state_dict()
        return tensors, state

    def save(self, which: str) -> None:
        if not self.rt.is_main:
            return
        tensors, state = self.checkpoint_tensors()
        path = self.run_dir / "checkpoints" / f"{which}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        ckpt.save_checkpoint(path, tensors, state)

    def restore(self, path: Path, on_spec: Callable[[dict, str], None] | None = None) -> None:
        """Continue from a checkpoint; `on_spec(saved_data_spec, source)` may refuse it."""
        tensors, state = load_resumable(path)
        self.restore_from(tensors, state, path, on_spec)

    def restore_from(
        self,
        tensors: dict[str, torch.Tensor],
        state: dict,
        path: Path,
        on_spec: Callable[[dict, str], None] | None = None,
    ) -> None:
        """Continue from a checkpoint read by `load_resumable`. Each piece is checked
        against this run before it is loaded, so a mismatch names the tensor."""
        check_resume_config(state, self.cfg, path)
        if on_spec is not None:
            on_spec(state.get("data_spec", {}), f"the model in {path}")
        ckpt.load_module_state(self.model, tensors, "model.", path)
        if self.ema is not None:
            ckpt.load_module_state(self.ema, tensors, "ema.", path)
        ckpt.optimizer_from_flat(self.optimizer, tensors, state["optim"], "optim", path)
        ckpt.load_module_state(self.sparse, tensors, "sparse.", path)
        self.step, self.best = state["step"], state["best"]
        self.stop_rules.load(state["stop_rules"])
        self.top.load(state["top_checkpoints"])
        if hasattr(self.loader, "load_state_dict"):
            self.loader.load_state_dict(state["loader"])
        if state["world_size"] == self.rt.world_size == 1:
            self._restore_rows(tensors, path)
            ckpt.rng_from_flat(tensors, state["rng"], path)

    def _restore_rows(self, tensors: dict[str, torch.Tensor], path: Path) -> None:
        rows, dev = self.rows, self.rt.device
        like = {
            **carry_to_tensors(rows.carry, "rows.carry."),
            **{f"rows.data.{k}": v for k, v in rows.data.items()},
            "rows.steps": rows.steps,
            "rows.halted": rows.halted,
        }
        ckpt.require_like(tensors, like, path)
        rows.carry = carry_from_tensors(rows.carry, tensors, "rows.carry.")
        rows.data = {k: tensors[f"rows.data.{k}"].to(dev) for k in rows.data}
        rows.steps = tensors["rows.steps"].to(dev, rows.steps.dtype)
        rows.halted = tensors["rows.halted"].to(dev, rows.halted.dtype)
        if "rows.limit" in tensors:  # checkpoints before random_depth have none: N_sup
            ckpt.require_like(tensors, {"rows.limit": rows.limit}, path)
            rows.limit = tensors["rows.limit"].to(dev, rows.limit.dtype)


def _grad_norm(params) -> float:
    norms = [p.grad.detach().float().norm() for p in params if p.grad is not None]
    return float(torch.stack(norms).norm()) if norms else 0.0
