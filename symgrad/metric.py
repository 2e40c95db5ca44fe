"""`symgrad.metric`: MXNet's evaluation metrics (accuracy, cross-entropy, MSE, ...) for `Module.fit`.

Each metric keeps a running sum and count over `update(labels, preds)` calls and reports their
ratio with `get()`, averaging as MXNet 1.x does (per sample for accuracy and cross-entropy,
per batch for MSE, MAE and RMSE).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy

from .errors import SymgradError
from .nd import NDArray


def _numpy(x: Any) -> numpy.ndarray:
    return numpy.asarray(x.asnumpy() if isinstance(x, NDArray) else x)


def _pairs(labels: Any, preds: Any, name: str) -> list[tuple[numpy.ndarray, numpy.ndarray]]:
    labels = list(labels) if isinstance(labels, (list, tuple)) else [labels]
    preds = list(preds) if isinstance(preds, (list, tuple)) else [preds]
    if len(labels) != len(preds):
        raise SymgradError(f"metric {name!r}: {len(labels)} label arrays but {len(preds)} predictions")
    return [(_numpy(lab), _numpy(pred)) for lab, pred in zip(labels, preds)]


class EvalMetric:
    """A running mean: `update(labels, preds)` adds to it, `get()` gives (name, value), `reset()` empties it."""

    def __init__(self, name: str, output_names: Any = None, label_names: Any = None) -> None:
        self.name, self.output_names, self.label_names = name, output_names, label_names
        self.reset()

    def reset(self) -> None:
        self.reset_local()
        self.global_num_inst, self.global_sum_metric = 0, 0.0

    def reset_local(self) -> None:
        """Empty the local sums only (Speedometer does, each time it logs); the global ones go on."""
        self.num_inst, self.sum_metric = 0, 0.0

    def add(self, total: float, count: int) -> None:
        self.sum_metric += total
        self.num_inst += count
        self.global_sum_metric += total
        self.global_num_inst += count

    def update(self, labels: Any, preds: Any) -> None:
        for label, pred in _pairs(labels, preds, self.name):
            self.add(*self.measure(label, pred))

    def measure(self, label: numpy.ndarray, pred: numpy.ndarray) -> tuple[float, int]:
        """(sum, count) of one label and prediction pair."""
        raise NotImplementedError  # each metric defines what it sums

    def update_dict(self, label: dict[str, Any], pred: dict[str, Any]) -> None:
        """update with named arrays, taking only output_names and label_names when given."""
        if self.output_names is not None:
            pred = {n: pred[n] for n in self.output_names}
        if self.label_names is not None:
            label = {n: label[n] for n in self.label_names}
        self.update(list(label.values()), list(pred.values()))

    def get(self) -> tuple[Any, Any]:
        """(name, value) since the last reset or reset_local."""
        return self.name, (self.sum_metric / self.num_inst if self.num_inst else float("nan"))

    def get_global(self) -> tuple[Any, Any]:
        """(name, value) since the last reset."""
        return self.name, (self.global_sum_metric / self.global_num_inst if self.global_num_inst else float("nan"))

    def get_name_value(self) -> list[tuple[str, float]]:
        return _name_value(self.get())

    def get_global_name_value(self) -> list[tuple[str, float]]:
        return _name_value(self.get_global())

    def __str__(self) -> str:
        return f"EvalMetric: {dict(self.get_name_value())}"


def _name_value(pair: tuple[Any, Any]) -> list[tuple[str, float]]:
    names, values = pair
    return list(zip(names, values)) if isinstance(names, list) else [(names, values)]


class Accuracy(EvalMetric):
    """The fraction of samples whose arg-max prediction (along axis) equals the label."""

    def __init__(self, axis: int = 1, name: str = "accuracy", **kwargs: Any) -> None:
        self.axis = axis
        super().__init__(name, **kwargs)

    def measure(self, label: numpy.ndarray, pred: numpy.ndarray) -> tuple[float, int]:
        if pred.shape != label.shape:
            pred = numpy.argmax(pred, axis=self.axis)
        pred, label = pred.astype(numpy.int64).ravel(), label.astype(numpy.int64).ravel()
        if pred.shape != label.shape:
            raise SymgradError(f"metric 'accuracy': {label.size} labels but {pred.size} predicted classes")
        return float((pred == label).sum()), label.size


class F1(EvalMetric):
    """The F1 score of a binary classification (class 1 positive, each row's arg-max predicted).

    average='macro' (MXNet's default) averages the F1 of each update (each batch in Module.fit);
    'micro' scores all samples since the last reset, as MXNet 1.x does.
    """

    def __init__(self, name: str = "f1", average: str = "macro", **kwargs: Any) -> None:
        if average not in ("macro", "micro"):
            raise SymgradError(f"metric 'f1': average must be 'macro' or 'micro', got {average!r}")
        self.average = average
        super().__init__(name, **kwargs)

    def reset(self) -> None:
        super().reset()
        self.global_counts = numpy.zeros(4, numpy.int64)

    def reset_local(self) -> None:
        super().reset_local()
        self.counts = numpy.zeros(4, numpy.int64)  # true positives, false positives, false negatives, true negatives

    def update(self, labels: Any, preds: Any) -> None:
        batch = numpy.zeros(4, numpy.int64)
        for label, pred in _pairs(labels, preds, self.name):
            batch += self._confusion(label.astype(numpy.int64).ravel(), numpy.argmax(pred, axis=1).ravel())
        if self.average == "macro":
            self.add(_fscore(batch), 1)
            return
        self.counts += batch
        self.global_counts += batch
        self.sum_metric, self.num_inst = _fscore(self.counts) * self.counts.sum(), int(self.counts.sum())
        self.global_sum_metric = _fscore(self.global_counts) * self.global_counts.sum()
        self.global_num_inst = int(self.global_counts.sum())

    def _confusion(self, label: numpy.ndarray, predicted: numpy.ndarray) -> numpy.ndarray:
        if label.shape != predicted.shape:
            raise SymgradError(f"metric {self.name!r}: {label.size} labels but {predicted.size} predicted classes")
        if len(numpy.unique(label)) > 2:
            raise SymgradError(
                f"metric {self.name!r}: F1 scores a binary classification, got labels {numpy.unique(label)[:6]};"
                " use 'acc' for more classes"
            )
        positive, actual = predicted == 1, label == 1
        return numpy.array([(positive & actual).sum(), (positive & ~actual).sum(), (~positive & actual).sum(),
                            (~positive & ~actual).sum()])  # fmt: skip


def _fscore(counts: numpy.ndarray) -> float:
    """2*precision*recall / (precision + recall), each 0 where its denominator is, as MXNet's."""
    true_pos, false_pos, false_neg, _ = (float(c) for c in counts)
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 0.0
    recall = true_pos / (true_pos + false_neg) if true_pos + false_neg else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


class Perplexity(EvalMetric):
    """exp of the mean of -log(max(p[label], 1e-10)) over the labels that are not ignore_label.

    MXNet requires ignore_label (pass None to count every label); here it defaults to None.
    """

    def __init__(self, ignore_label: Any = None, axis: int = -1, name: str = "perplexity", **kwargs: Any) -> None:
        self.ignore_label, self.axis = ignore_label, axis
        super().__init__(name, **kwargs)

    def measure(self, label: numpy.ndarray, pred: numpy.ndarray) -> tuple[float, int]:
        classes = pred.shape[self.axis]
        if label.size * classes != pred.size:
            raise SymgradError(
                f"metric {self.name!r}: labels of shape {label.shape} do not fit predictions of shape {pred.shape}"
                f" ({classes} classes along axis {self.axis})"
            )
        label = label.ravel()
        rows = numpy.moveaxis(pred, self.axis, -1).reshape(-1, classes)
        prob = rows[numpy.arange(label.size), numpy.clip(label.astype(numpy.int64), 0, classes - 1)]
        count = label.size
        if self.ignore_label is not None:
            ignore = label == self.ignore_label
            prob, count = numpy.where(ignore, prob.dtype.type(1), prob), count - int(ignore.sum())
        return float(-numpy.log(numpy.maximum(prob.dtype.type(1e-10), prob)).sum()), count

    def get(self) -> tuple[Any, Any]:
        name, value = super().get()
        return name, float(numpy.exp(value))

    def get_global(self) -> tuple[Any, Any]:
        name, value = super().get_global()
        return name, float(numpy.exp(value))


class TopKAccuracy(EvalMetric):
    """The fraction of samples whose label is among the top_k predicted classes."""

    def __init__(self, top_k: int = 1, name: str = "top_k_accuracy", **kwargs: Any) -> None:
        self.top_k = top_k
        super().__init__(f"{name}_{top_k}", **kwargs)

    def measure(self, label: numpy.ndarray, pred: numpy.ndarray) -> tuple[float, int]:
        top = numpy.argsort(pred.reshape(len(pred), -1), axis=1)[:, -self.top_k :]
        hits = (top == label.astype(numpy.int64).reshape(-1, 1)).any(axis=1)
        return float(hits.sum()), len(pred)


class CrossEntropy(EvalMetric):
    """The mean of -log(p[label] + eps) over samples, p the predicted class probabilities."""

    def __init__(self, eps: float = 1e-12, name: str = "cross-entropy", **kwargs: Any) -> None:
        self.eps = eps
        super().__init__(name, **kwargs)

    def measure(self, label: numpy.ndarray, pred: numpy.ndarray) -> tuple[float, int]:
        label = label.astype(numpy.int64).ravel()
        prob = pred.reshape(len(label), -1)[numpy.arange(len(label)), label]
        return float(-numpy.log(prob + self.eps).sum()), len(label)


def _columns(label: numpy.ndarray, pred: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """MXNet's regression metrics treat a 1-d label or prediction as one column."""
    return label.reshape(len(label), -1) if label.ndim == 1 else label, pred.reshape(
        len(pred), -1
    ) if pred.ndim == 1 else pred


class MSE(EvalMetric):
    """The mean squared error of each batch, averaged over batches."""

    def __init__(self, name: str = "mse", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)

    def measure(self, label: numpy.ndarray, pred: numpy.ndarray) -> tuple[float, int]:
        label, pred = _columns(label, pred)
        return float(((label - pred) ** 2).mean()), 1


class MAE(EvalMetric):
    """The mean absolute error of each batch, averaged over batches."""

    def __init__(self, name: str = "mae", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)

    def measure(self, label: numpy.ndarray, pred: numpy.ndarray) -> tuple[float, int]:
        label, pred = _columns(label, pred)
        return float(numpy.abs(label - pred).mean()), 1


class RMSE(EvalMetric):
    """The root mean squared error of each batch, averaged over batches."""

    def __init__(self, name: str = "rmse", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)

    def measure(self, label: numpy.ndarray, pred: numpy.ndarray) -> tuple[float, int]:
        label, pred = _columns(label, pred)
        return float(numpy.sqrt(((label - pred) ** 2).mean())), 1


class Loss(EvalMetric):
    """The mean of the outputs themselves (for a network ending in MakeLoss); labels are not read."""

    def __init__(self, name: str = "loss", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)

    def update(self, _: Any, preds: Any) -> None:
        for pred in preds if isinstance(preds, (list, tuple)) else [preds]:
            pred = _numpy(pred)
            self.add(float(pred.sum()), pred.size)


class CustomMetric(EvalMetric):
    """A metric from feval(label, pred) -> value, or -> (sum, count), on NumPy arrays."""

    def __init__(self, feval: Callable[..., Any], name: str | None = None, **kwargs: Any) -> None:
        self.feval = feval
        if name is None:  # MXNet's naming: the function's name, custom(<lambda>) for a lambda
            name = getattr(feval, "__name__", "feval")
            name = f"custom({name})" if "<" in name else name
        super().__init__(name, **kwargs)

    def measure(self, label: numpy.ndarray, pred: numpy.ndarray) -> tuple[float, int]:
        value = self.feval(label, pred)
        return (float(value[0]), int(value[1])) if isinstance(value, tuple) else (float(value), 1)


def np(numpy_feval: Callable[..., Any], name: str | None = None, allow_extra_outputs: bool = False) -> CustomMetric:
    """MXNet's `mx.metric.np(feval)`: a CustomMetric named as CustomMetric names feval (numpy is `numpy` here)."""
    return CustomMetric(numpy_feval, name)


class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; `get()` gives lists of names and values."""

    def __init__(self, metrics: list[Any] | None = None, name: str = "composite", **kwargs: Any) -> None:
        self.metrics = [create(m) for m in metrics or []]
        super().__init__(name, **kwargs)

    def add(self, metric: Any) -> None:
        self.metrics.append(create(metric))

    def reset(self) -> None:
        for metric in getattr(self, "metrics", []):
            metric.reset()

    def reset_local(self) -> None:
        for metric in self.metrics:
            metric.reset_local()

    def update(self, labels: Any, preds: Any) -> None:
        for metric in self.metrics:
            metric.update(labels, preds)

    def update_dict(self, label: dict[str, Any], pred: dict[str, Any]) -> None:
        """Each metric picks its own output_names and label_names."""
        for metric in self.metrics:
            metric.update_dict(label, pred)

    def get(self) -> tuple[Any, Any]:
        pairs = [pair for metric in self.metrics for pair in metric.get_name_value()]
        return [n for n, _ in pairs], [v for _, v in pairs]

    def get_global(self) -> tuple[Any, Any]:
        pairs = [pair for metric in self.metrics for pair in metric.get_global_name_value()]
        return [n for n, _ in pairs], [v for _, v in pairs]


_BY_NAME: dict[str, Callable[..., EvalMetric]] = {
    "acc": Accuracy,
    "accuracy": Accuracy,
    "top_k_accuracy": TopKAccuracy,
    "f1": F1,
    "perplexity": Perplexity,
    "top_k_acc": TopKAccuracy,
    "ce": CrossEntropy,
    "cross-entropy": CrossEntropy,
    "mse": MSE,
    "mae": MAE,
    "rmse": RMSE,
    "loss": Loss,
}


def create(metric: Any, *args: Any, **kwargs: Any) -> EvalMetric:
    """A metric from MXNet's names ('acc', 'ce', 'mse', ...), a function, a metric or a list of them."""
    if isinstance(metric, EvalMetric):
        return metric
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, (list, tuple)):
        return CompositeEvalMetric([create(m, *args, **kwargs) for m in metric])
    if isinstance(metric, str) and metric.lower() in _BY_NAME:
        return _BY_NAME[metric.lower()](*args, **kwargs)
    raise SymgradError(f"metric.create: unknown metric {metric!r}; symgrad has {sorted(_BY_NAME)}")
