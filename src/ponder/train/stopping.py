"""Early stopping and fail-fast rules, judged after each evaluation."""

from __future__ import annotations

from ponder.config import TrainConfig


class StopRules:
    """Holds the early-stopping state; `check` returns why to stop, or None."""

    def __init__(self, cfg: TrainConfig):
        self.early = cfg.early_stop
        self.fail_fast = sorted(cfg.fail_fast, key=lambda rule: rule.step)
        self.best: float | None = None
        self.stale = 0  # evaluations in a row without improvement

    def check(self, step: int, metrics: dict[str, float]) -> str | None:
        return self._fail_fast(step, metrics) or self._early_stop(metrics)

    def _fail_fast(self, step: int, metrics: dict[str, float]) -> str | None:
        while self.fail_fast and self.fail_fast[0].step <= step:
            rule = self.fail_fast.pop(0)
            value = metrics.get(rule.metric)
            if value is not None and value < rule.below:
                return (
                    f"fail-fast: {rule.metric} {value:.4g} < {rule.below:g} "
                    f"at step {step} (rule: step {rule.step})"
                )
        return None

    def _early_stop(self, metrics: dict[str, float]) -> str | None:
        value = metrics.get(self.early.metric)
        if self.early.patience == 0 or value is None:
            return None
        sign = 1.0 if self.early.mode == "max" else -1.0  # judge -loss as higher-is-better
        value = sign * value
        if self.best is None or value > self.best + self.early.min_delta:
            self.best, self.stale = value, 0
            return None
        self.stale += 1
        if self.stale >= self.early.patience:
            return (
                f"early stop: {self.early.metric} has not improved on {sign * self.best:.4g} "
                f"for {self.stale} evaluations"
            )
        return None

    def state(self) -> dict:
        return {"best": self.best, "stale": self.stale, "fail_fast_left": len(self.fail_fast)}

    def load(self, state: dict) -> None:
        self.best, self.stale = state.get("best"), state.get("stale", 0)
        done = len(self.fail_fast) - state.get("fail_fast_left", len(self.fail_fast))
        self.fail_fast = self.fail_fast[done:]
