"""`symgrad.callback`: MXNet's batch-end callbacks for `Module.fit` (Speedometer, log_train_metric)."""

from __future__ import annotations

import logging
import time
from typing import Any, NamedTuple

from .model import save_checkpoint


class BatchEndParam(NamedTuple):
    """What a batch-end callback receives: the epoch, the batch number, the metric and fit's locals."""

    epoch: int
    nbatch: int
    eval_metric: Any
    locals: dict[str, Any] | None = None


class Speedometer:
    """Logs samples per second and the training metric every `frequent` batches (MXNet's format)."""

    def __init__(self, batch_size: int, frequent: int = 50, auto_reset: bool = True) -> None:
        self.batch_size, self.frequent, self.auto_reset = batch_size, frequent, auto_reset
        self.init, self.tic, self.last_count = False, 0.0, 0

    def __call__(self, param: BatchEndParam) -> None:
        count = param.nbatch
        if self.last_count > count:
            self.init = False  # a new epoch
        self.last_count = count
        if not self.init:
            self.init, self.tic = True, time.time()
            return
        if count % self.frequent == 0:
            speed = self.frequent * self.batch_size / max(time.time() - self.tic, 1e-12)
            text = f"Epoch[{param.epoch}] Batch [{count - self.frequent}-{count}]\tSpeed: {speed:.2f} samples/sec"
            if param.eval_metric is not None:
                pairs = param.eval_metric.get_name_value()
                if self.auto_reset:
                    param.eval_metric.reset_local()
                text += "".join(f"\t{name}={value:f}" for name, value in pairs)
            logging.info(text)
            self.tic = time.time()


def log_train_metric(period: int, auto_reset: bool = False) -> Any:
    """A callback logging the training metric every `period` batches."""

    def callback(param: BatchEndParam) -> None:
        if param.nbatch % period == 0 and param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                logging.info("Iter[%d] Batch[%d] Train-%s=%f", param.epoch, param.nbatch, name, value)
            if auto_reset:
                param.eval_metric.reset()

    return callback


def do_checkpoint(prefix: str, period: int = 1) -> Any:
    """An epoch-end callback saving prefix-symbol.json and prefix-<epoch>.params every `period` epochs."""
    period = max(1, int(period))

    def callback(epoch: int, symbol: Any, arg_params: dict, aux_params: dict) -> None:
        if (epoch + 1) % period == 0:
            save_checkpoint(prefix, epoch + 1, symbol, arg_params, aux_params)

    return callback
