"""`symgrad.lr_scheduler`: MXNet 1.x's FactorScheduler and MultiFactorScheduler.

An optimizer given `lr_scheduler=` asks it for the learning rate at each update, passing
`num_update`, the largest number of updates any one weight has had; MXNet's rules, logging and
warm-up are kept so `Module.fit(optimizer_params={'lr_scheduler': ...})` trains as in MXNet.
"""

from __future__ import annotations

import logging

from .errors import SymgradError


class LRScheduler:
    """The base: a learning rate per update count, with an optional linear or constant warm-up."""

    def __init__(
        self, base_lr: float = 0.01, warmup_steps: int = 0, warmup_begin_lr: float = 0, warmup_mode: str = "linear"
    ) -> None:
        name = type(self).__name__
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise SymgradError(f"{name}: warmup_steps must be an int >= 0, got {warmup_steps!r}")
        if warmup_begin_lr > base_lr:
            raise SymgradError(f"{name}: warmup_begin_lr {warmup_begin_lr} is above base_lr {base_lr}")
        if warmup_mode not in ("linear", "constant"):
            raise SymgradError(f"{name}: warmup_mode must be 'linear' or 'constant', got {warmup_mode!r}")
        self.base_lr, self.warmup_steps, self.warmup_begin_lr, self.warmup_mode = (
            base_lr,
            warmup_steps,
            warmup_begin_lr,
            warmup_mode,
        )
        self.warmup_final_lr = base_lr

    def get_warmup_lr(self, num_update: int) -> float:
        """The warm-up's rate at num_update (< warmup_steps)."""
        if self.warmup_mode == "constant":
            return self.warmup_begin_lr
        return self.warmup_begin_lr + (self.warmup_final_lr - self.warmup_begin_lr) * num_update / self.warmup_steps

    def __call__(self, num_update: int) -> float:
        raise NotImplementedError  # each scheduler says how the rate falls


def _check_factor(name: str, factor: float) -> None:
    if not 0 < factor <= 1:
        raise SymgradError(f"{name}: factor must be in (0, 1] so the rate falls, got {factor!r}")


class FactorScheduler(LRScheduler):
    """base_lr * factor**floor((num_update - 1) / step), held at stop_factor_lr once it falls below it."""

    def __init__(self, step: int, factor: float = 1, stop_factor_lr: float = 1e-8, **kwargs: float) -> None:
        super().__init__(**kwargs)
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step < 1:
            raise SymgradError(f"FactorScheduler: step must be a number >= 1 (updates between changes), got {step!r}")
        _check_factor("FactorScheduler", factor)
        self.step, self.factor, self.stop_factor_lr, self.count = step, factor, stop_factor_lr, 0

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while num_update > self.count + self.step:  # a loop, as MXNet's, for training resumed at a later update
            self.count += self.step
            self.base_lr *= self.factor
            if self.base_lr < self.stop_factor_lr:
                self.base_lr = self.stop_factor_lr
                logging.info(
                    "Update[%d]: now learning rate arrived at %0.5e, will not change in the future",
                    num_update,
                    self.base_lr,
                )
            else:
                logging.info("Update[%d]: Change learning rate to %0.5e", num_update, self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """base_lr * factor**k after the k-th of the increasing update counts in step has passed."""

    def __init__(self, step: list[int], factor: float = 1, **kwargs: float) -> None:
        super().__init__(**kwargs)
        if (
            not isinstance(step, list)
            or not step
            or any(isinstance(s, bool) or not isinstance(s, (int, float)) or s < 1 for s in step)
        ):
            raise SymgradError(
                f"MultiFactorScheduler: step must be a non-empty list of update counts >= 1, got {step!r}"
            )
        if any(b <= a for a, b in zip(step, step[1:])):
            raise SymgradError(f"MultiFactorScheduler: step must increase, got {step}")
        _check_factor("MultiFactorScheduler", factor)
        self.step, self.factor, self.cur_step_ind, self.count = step, factor, 0, 0

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind < len(self.step) and num_update > self.step[self.cur_step_ind]:
            self.count = self.step[self.cur_step_ind]
            self.cur_step_ind += 1
            self.base_lr *= self.factor
            logging.info("Update[%d]: Change learning rate to %0.5e", num_update, self.base_lr)
        return self.base_lr
