"""`symgrad.module` (also `symgrad.mod`): MXNet's Module, the symbol API's training driver.

`Module(net).fit(train_iter, eval_data=val_iter, optimizer="sgd", num_epoch=10)` binds the net to
the iterator's shapes, initializes its parameters, and runs MXNet's loop (forward, backward, one
optimizer update per parameter, the training metric) as MXNet 1.x does: the learning-rate scale
`rescale_grad` defaults to 1/batch_size, weight decay skips biases, `score` and `predict` run in
predict mode and drop the padding of the last batch. A batch of another size (the last one, or
prediction) binds once more, sharing the parameters; each shape's plan is compiled once.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from . import init as initializers
from . import metric as metrics
from . import model
from . import optimizer as optimizers
from .callback import BatchEndParam
from .errors import BindError, ShapeError, SymgradError, user_frame_depth
from .graph import Symbol
from .io import DataBatch, DataDesc, DataIter
from .nd import NDArray

DEFAULT_INIT = initializers.Uniform(0.01)  # MXNet's default for init_params and fit


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _descs(shapes: Any, what: str) -> list[DataDesc]:
    """DataDescs or (name, shape) pairs, MXNet's forms of data_shapes and label_shapes."""
    out = []
    for item in shapes or []:
        if isinstance(item, DataDesc):
            out.append(item)
        elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            out.append(DataDesc(item[0], item[1]))
        else:
            raise BindError(f"Module.bind: {what} must be a list of (name, shape) pairs or DataDescs, got {item!r}")
    return out


class Module:
    """A symbol with its data and label names: bind, init_params, init_optimizer, then fit or the steps."""

    def __init__(
        self,
        symbol: Symbol,
        data_names: Iterable[str] = ("data",),
        label_names: Iterable[str] | None = ("softmax_label",),
        context: Any = None,
        fixed_param_names: Iterable[str] | None = None,
        logger: Any = logging,
        **_: Any,  # MXNet's work_load_list, state_names, group2ctxs, compression_params: one CPU here
    ) -> None:
        arguments = symbol.list_arguments()
        self.symbol, self.logger, self.context = symbol, logger, context
        self._data_names = list(data_names)
        missing = [n for n in self._data_names if n not in arguments]
        if missing:
            raise SymgradError(
                f"Module: data name {missing[0]!r} is not an argument of the symbol; its arguments are {arguments}"
            )
        self._label_names = [n for n in label_names or [] if n in arguments]
        dropped = [n for n in label_names or [] if n not in arguments]
        if dropped:
            warnings.warn(
                f"Module: label {dropped[0]!r} is not an argument of the symbol; it is ignored",
                stacklevel=user_frame_depth(),
            )
        inputs = {*self._data_names, *self._label_names}
        self._param_names = [n for n in arguments if n not in inputs]
        self._aux_names = symbol.list_auxiliary_states()
        self._fixed = set(fixed_param_names or [])
        self._execs: dict[tuple, Any] = {}
        self._exec: Any = None
        self._updater: Any = None
        self._preset: tuple[dict, dict] | None = None  # parameters Module.load read, set at bind
        self._for_training = False
        self.binded = self.params_initialized = self.optimizer_initialized = False

    # ---- what MXNet's Module reports ----
    @property
    def data_names(self) -> list[str]:
        return list(self._data_names)

    @property
    def label_names(self) -> list[str]:
        return list(self._label_names)

    @property
    def output_names(self) -> list[str]:
        return self.symbol.list_outputs()

    @property
    def data_shapes(self) -> list[DataDesc]:
        return [DataDesc(n, self._exec.arg_dict[n].shape, self._exec.arg_dict[n].dtype) for n in self._data_names]

    @property
    def label_shapes(self) -> list[DataDesc]:
        return [DataDesc(n, self._exec.arg_dict[n].shape, self._exec.arg_dict[n].dtype) for n in self._label_names]

    @property
    def output_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(n, tuple(o.shape)) for n, o in zip(self.output_names, self._exec.outputs)]

    # ---- binding ----
    def bind(
        self,
        data_shapes: Any,
        label_shapes: Any = None,
        for_training: bool = True,
        inputs_need_grad: bool = False,
        force_rebind: bool = False,
        shared_module: Any = None,
        grad_req: str = "write",
    ) -> None:
        """Allocate the arrays for these input shapes (dtypes from the DataDescs)."""
        if self.binded and not force_rebind:
            warnings.warn(
                "Module.bind: already bound; pass force_rebind=True to bind again", stacklevel=user_frame_depth()
            )
            return
        data_descs, label_descs = _descs(data_shapes, "data_shapes"), _descs(label_shapes, "label_shapes")
        descs = data_descs + label_descs
        known = {*self._data_names, *self._label_names}
        for desc in descs:
            if desc.name not in known:
                raise BindError(
                    f"Module.bind: the input {desc.name!r} is neither a data name {self._data_names}"
                    f" nor a label name {self._label_names}; {self._naming_fix(desc in label_descs)}"
                )
        unbound = [n for n in self._data_names if n not in {d.name for d in descs}]
        if unbound:
            raise BindError(f"Module.bind: no shape for data {unbound[0]!r}; data_shapes=[({unbound[0]!r}, (...))]")
        unlabelled = [n for n in self._label_names if n not in {d.name for d in descs}]
        if for_training and unlabelled:  # else training would read the label array's zeros, silently
            raise BindError(
                f"Module.bind: no shape for label {unlabelled[0]!r}, which training reads; give the iterator labels"
                " (NDArrayIter(data, label, batch_size)) or label_shapes, or bind(..., for_training=False) to predict"
            )
        reqs = {n: "null" for n in self.symbol.list_arguments()}
        if for_training:
            reqs.update({n: grad_req for n in self._param_names if n not in self._fixed})
            if inputs_need_grad:
                reqs.update(dict.fromkeys(self._data_names, grad_req))
        kept = self._exec.arg_dict if self.params_initialized else None
        self._for_training = for_training
        self._exec = self.symbol.simple_bind(
            grad_req=reqs, type_dict={d.name: d.dtype for d in descs}, **{d.name: d.shape for d in descs}
        )
        if kept is not None:  # a rebind keeps the trained parameters
            self._exec.copy_params_from({n: kept[n] for n in self._param_names}, dict(self._aux_params()))
        self._execs = {self._shape_key({d.name: d.shape for d in descs}): self._exec}
        self.binded = True
        if self._preset is not None:
            self.init_params(None, *self._preset, force_init=True)

    def _naming_fix(self, is_label: bool) -> str:
        """How to make an iterator's names and the module's agree."""
        if not is_label:
            return f"make the iterator with NDArrayIter(..., data_name={self._data_names[0]!r})"
        unnamed = [a for a in self._param_names if a.endswith("label")]  # a loss layer's label Module was not told of
        if self._label_names:
            return f"make the iterator with NDArrayIter(..., label_name={self._label_names[0]!r})"
        if unnamed:
            return (
                f"the symbol's label is {unnamed[0]!r}: Module(net, label_names=[{unnamed[0]!r}]) and an iterator"
                f" made with NDArrayIter(..., label_name={unnamed[0]!r})"
            )
        return (
            "the symbol has no label: give the iterator no label or Module(net, label_names=[...]) the iterator's name"
        )

    @staticmethod
    def _shape_key(shapes: dict[str, tuple[int, ...]]) -> tuple:
        return tuple(sorted((n, tuple(s)) for n, s in shapes.items()))

    def _aux_params(self) -> dict[str, NDArray]:
        return {n: self._exec.aux_dict[n] for n in self._aux_names}

    def _require(self, binded: bool = True, params: bool = False, optimizer: bool = False) -> None:
        for needed, done, call in (
            (binded, self.binded, "bind(...)"),
            (params, self.params_initialized, "init_params(...)"),
            (optimizer, self.optimizer_initialized, "init_optimizer(...)"),
        ):
            if needed and not done:
                raise SymgradError(f"Module: call {call} first")

    # ---- parameters ----
    def init_params(
        self,
        initializer: Any = DEFAULT_INIT,
        arg_params: dict[str, Any] | None = None,
        aux_params: dict[str, Any] | None = None,
        allow_missing: bool = False,
        force_init: bool = False,
        allow_extra: bool = False,
    ) -> None:
        """Fill the parameters from arg_params/aux_params, the rest with the initializer (None: left as they are)."""
        self._fill_params("init_params", initializer, arg_params, aux_params, allow_missing, force_init, allow_extra)

    def _fill_params(
        self,
        caller: str,
        initializer: Any,
        arg_params: dict[str, Any] | None,
        aux_params: dict[str, Any] | None,
        allow_missing: bool,
        force_init: bool,
        allow_extra: bool,
    ) -> None:
        """init_params and set_params: errors name the method the user called."""
        self._require()
        if self.params_initialized and not force_init:
            warnings.warn(f"Module.{caller}: already initialized; pass force_init=True", stacklevel=user_frame_depth())
            return
        for given, names, bound in (
            (arg_params, self._param_names, self._exec.arg_dict),
            (aux_params, self._aux_names, self._exec.aux_dict),
        ):
            extra = sorted(set(given or {}) - set(names))
            if extra and not allow_extra:
                raise SymgradError(f"Module.{caller}: {extra[0]!r} is not a parameter of the symbol {names}")
            for name in names:
                target = np.asarray(bound[name])
                if given is not None and name in given:
                    value = given[name]
                    value = np.asarray(value.asnumpy() if isinstance(value, NDArray) else value)
                    if value.shape != target.shape:
                        raise ShapeError(
                            f"Module.{caller}: {name!r} has shape {value.shape}, the symbol needs {target.shape}"
                        )
                    np.copyto(target, value, casting="unsafe")
                elif given is not None and not allow_missing:
                    raise SymgradError(f"Module.{caller}: no value for {name!r}; pass allow_missing=True")
                elif initializer is not None:
                    initializer(name, target)
        self.params_initialized = True

    def get_params(self) -> tuple[dict[str, NDArray], dict[str, NDArray]]:
        """Copies of the parameters and auxiliary states."""
        self._require(params=True)
        args = {n: NDArray(np.array(self._exec.arg_dict[n].asnumpy())) for n in self._param_names}
        return args, {n: NDArray(np.array(a.asnumpy())) for n, a in self._aux_params().items()}

    def set_params(
        self,
        arg_params: dict[str, Any],
        aux_params: dict[str, Any] | None = None,
        allow_missing: bool = False,
        force_init: bool = True,
        allow_extra: bool = False,
    ) -> None:
        """Copy these values into the parameters (those missing keep their values with allow_missing)."""
        self._fill_params("set_params", None, arg_params, aux_params or {}, allow_missing, force_init, allow_extra)

    # ---- checkpoints ----
    def save_params(self, fname: str) -> None:
        """The parameters and auxiliary states to fname (keys arg:<name>, aux:<name>)."""
        args, aux = self.get_params()
        model.save(fname, {**{f"arg:{k}": v for k, v in args.items()}, **{f"aux:{k}": v for k, v in aux.items()}})

    def load_params(self, fname: str) -> None:
        self.set_params(*model.load_params(fname))

    def save_checkpoint(self, prefix: str, epoch: int, save_optimizer_states: bool = False) -> None:
        """prefix-symbol.json and prefix-<epoch>.params (optimizer states are not saved)."""
        if save_optimizer_states:
            raise SymgradError(
                "Module.save_checkpoint: symgrad does not save optimizer states; pass save_optimizer_states=False"
                " (the symbol and parameters are saved; the optimizer starts afresh when training resumes)"
            )
        model.save_checkpoint(prefix, epoch, self.symbol, *self.get_params())

    @staticmethod
    def load(prefix: str, epoch: int, load_optimizer_states: bool = False, **kwargs: Any) -> Module:
        """A Module of a checkpoint's symbol whose parameters are set when it is bound."""
        if load_optimizer_states:
            raise SymgradError("Module.load: optimizer states are not saved by symgrad")
        symbol, args, aux = model.load_checkpoint(prefix, epoch)
        module = Module(symbol, **kwargs)
        module._preset = (args, aux)
        return module

    # ---- the optimizer ----
    def init_optimizer(
        self,
        kvstore: Any = "local",
        optimizer: Any = "sgd",
        optimizer_params: Any = (("learning_rate", 0.01),),
        force_init: bool = False,
    ) -> None:
        """An optimizer by name (rescale_grad defaults to 1/batch_size, as in MXNet) or an Optimizer."""
        self._require(params=True)
        if self.optimizer_initialized and not force_init:
            warnings.warn(
                "Module.init_optimizer: already initialized; pass force_init=True", stacklevel=user_frame_depth()
            )
            return
        names = {i: n for i, n in enumerate(self._param_names)}
        if isinstance(optimizer, str):
            params = dict(optimizer_params)
            params.setdefault("rescale_grad", 1.0 / self._exec.arg_dict[self._data_names[0]].shape[0])
            optimizer = optimizers.create(optimizer, param_idx2name=names, **params)
        elif not isinstance(optimizer, optimizers.Optimizer):
            raise SymgradError(f"Module.init_optimizer: optimizer must be a name or an Optimizer, got {optimizer!r}")
        elif not optimizer.idx2name:
            optimizer.idx2name = names
        self._optimizer, self._updater = optimizer, optimizers.get_updater(optimizer)
        self.optimizer_initialized = True

    # ---- one step ----
    def forward(self, data_batch: DataBatch, is_train: bool | None = None) -> None:
        """Copy the batch in (binding once more for a new batch size) and run the forward pass."""
        self._require(params=True)
        is_train = self._for_training if is_train is None else is_train
        values = dict(zip(self._data_names, data_batch.data))
        if is_train or data_batch.label is not None:
            values.update(zip(self._label_names, data_batch.label or []))
        values = {n: v.asnumpy() if isinstance(v, NDArray) else np.asarray(v) for n, v in values.items()}
        self._exec = self._executor_for({n: v.shape for n, v in values.items()})
        self._exec.forward(is_train=is_train, **values)

    def _executor_for(self, shapes: dict[str, tuple[int, ...]]) -> Any:
        """The executor for these input shapes (labels not given are inferred), made once by
        reshaping: parameters, their gradients and the auxiliary states are shared."""
        key = self._shape_key(shapes)
        if key not in self._execs:
            self._check_parameter_shapes(shapes)
            self._execs[key] = self._exec.reshape(partial_shaping=True, allow_up_sizing=True, **shapes)
        return self._execs[key]

    def _check_parameter_shapes(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """A new batch may change the batch size, never a parameter's shape (MXNet refuses too):
        else the reshaped executor would run on parameters resized and filled with zeros."""
        arg_shapes, _, _ = self.symbol.infer_shape_partial(**shapes)
        for name, shape in zip(self.symbol.list_arguments(), arg_shapes):
            old = self._exec.arg_dict[name].shape
            if name in self._param_names and shape is not None and None not in shape and tuple(shape) != old:
                bound = {n: self._exec.arg_dict[n].shape for n in shapes}
                raise ShapeError(
                    f"Module.forward: a batch of shapes {shapes} needs parameter {name!r} of shape {tuple(shape)},"
                    f" but the module's is {old} (bound for {bound}); give batches of the shape per sample"
                    " the module was bound and trained with"
                )

    def backward(self, out_grads: Any = None) -> None:
        """The gradients of the last forward (a module bound for training only, as in MXNet)."""
        self._require(params=True)
        if not self._for_training:  # no gradient is kept: update() would change nothing, silently
            raise SymgradError("Module.backward: bound with for_training=False; bind(..., force_rebind=True) to train")
        self._exec.backward(out_grads)

    def forward_backward(self, data_batch: DataBatch) -> None:
        self.forward(data_batch, is_train=True)
        self.backward()

    def update(self) -> None:
        """One optimizer step for every parameter that is not fixed."""
        self._require(params=True, optimizer=True)
        for i, name in enumerate(self._param_names):
            grad = self._exec.grad_dict.get(name)
            if grad is not None:
                self._updater(i, grad, self._exec.arg_dict[name])

    def get_outputs(self, merge_multi_context: bool = True) -> list[NDArray]:
        self._require()
        return list(self._exec.outputs)

    def get_input_grads(self, merge_multi_context: bool = True) -> list[NDArray]:
        """The gradients of the data inputs (bind with inputs_need_grad=True)."""
        grads = [self._exec.grad_dict.get(n) for n in self._data_names]
        if any(g is None for g in grads):
            raise SymgradError("Module.get_input_grads: bind with inputs_need_grad=True first")
        return grads

    def update_metric(self, eval_metric: Any, labels: Any, pre_sliced: bool = False) -> None:
        """The metric on the labels and outputs by name, so a metric's output_names/label_names pick them."""
        outputs = dict(zip(self.output_names, self.get_outputs()))
        eval_metric.update_dict(dict(zip(self._label_names, labels or [])), outputs)

    # ---- whole passes ----
    def score(
        self,
        eval_data: DataIter,
        eval_metric: Any,
        num_batch: int | None = None,
        batch_end_callback: Any = None,
        score_end_callback: Any = None,
        reset: bool = True,
        epoch: int = 0,
    ) -> list[tuple[str, float]]:
        """The metric over eval_data in predict mode."""
        self._require(params=True)
        if reset:
            eval_data.reset()
        eval_metric = metrics.create(eval_metric)
        eval_metric.reset()
        nbatch = 0
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            self.update_metric(eval_metric, batch.label)
            for callback in _as_list(batch_end_callback or []):
                callback(BatchEndParam(epoch, nbatch, eval_metric, locals()))
        for callback in _as_list(score_end_callback or []):
            callback(BatchEndParam(epoch, nbatch, eval_metric, locals()))
        return eval_metric.get_name_value()

    def iter_predict(self, eval_data: DataIter, num_batch: int | None = None, reset: bool = True) -> Any:
        """(outputs without the batch's padding, batch number, batch) for each batch."""
        self._require(params=True)
        if reset:
            eval_data.reset()
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            yield [NDArray(o.asnumpy()[: len(o) - batch.pad].copy()) for o in self.get_outputs()], nbatch, batch

    def predict(
        self,
        eval_data: Any,
        num_batch: int | None = None,
        merge_batches: bool = True,
        reset: bool = True,
        always_output_list: bool = False,
    ) -> Any:
        """The outputs over eval_data (an iterator or one array), batches joined, padding dropped."""
        if isinstance(eval_data, (NDArray, np.ndarray)):
            self.forward(DataBatch([eval_data]), is_train=False)
            return self.get_outputs()[0]
        if not isinstance(eval_data, DataIter):
            raise SymgradError(f"Module.predict: eval_data must be a DataIter or an array, got {type(eval_data)}")
        batches = [outputs for outputs, _, _ in self.iter_predict(eval_data, num_batch, reset)]
        if not batches or not merge_batches:
            return batches
        merged = [NDArray(np.concatenate([b[i].asnumpy() for b in batches])) for i in range(len(batches[0]))]
        return merged[0] if len(merged) == 1 and not always_output_list else merged

    def fit(
        self,
        train_data: DataIter,
        eval_data: DataIter | None = None,
        eval_metric: Any = "acc",
        epoch_end_callback: Any = None,
        batch_end_callback: Any = None,
        kvstore: Any = "local",
        optimizer: Any = "sgd",
        optimizer_params: Any = (("learning_rate", 0.01),),
        eval_end_callback: Any = None,
        eval_batch_end_callback: Any = None,
        initializer: Any = DEFAULT_INIT,
        arg_params: dict[str, Any] | None = None,
        aux_params: dict[str, Any] | None = None,
        allow_missing: bool = False,
        force_rebind: bool = False,
        force_init: bool = False,
        begin_epoch: int = 0,
        num_epoch: int | None = None,
        validation_metric: Any = None,
        monitor: Any = None,
    ) -> None:
        """MXNet's training loop over train_data, with the metric logged each epoch."""
        if num_epoch is None:
            raise SymgradError("Module.fit: pass num_epoch=")
        self.bind(train_data.provide_data, train_data.provide_label, for_training=True, force_rebind=force_rebind)
        if force_init or not self.params_initialized:  # a loaded checkpoint's parameters are kept
            self.init_params(initializer, arg_params, aux_params, allow_missing, force_init)
        self.init_optimizer(kvstore, optimizer, optimizer_params)
        validation_metric = eval_metric if validation_metric is None else validation_metric
        eval_metric = metrics.create(eval_metric)
        for epoch in range(begin_epoch, num_epoch):
            tic = time.time()
            eval_metric.reset()
            nbatch = -1
            for nbatch, batch in enumerate(train_data):
                self.forward_backward(batch)
                self.update()
                self.update_metric(eval_metric, batch.label)
                for callback in _as_list(batch_end_callback or []):
                    callback(BatchEndParam(epoch, nbatch, eval_metric, locals()))
            if nbatch < 0:  # MXNet raises StopIteration here; an epoch without training is never silent
                raise SymgradError(
                    f"Module.fit: train_data gave no batch in epoch {epoch}; it is at its end"
                    " (after a score or predict over it, say): call train_data.reset() before fit"
                )
            for name, value in eval_metric.get_global_name_value():
                self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, value)
            self.logger.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - tic)
            if epoch_end_callback is not None:
                arg_params, aux_params = self.get_params()
                for callback in _as_list(epoch_end_callback):
                    callback(epoch, self.symbol, arg_params, aux_params)
            if eval_data is not None:
                scores = self.score(
                    eval_data, validation_metric, score_end_callback=eval_end_callback,
                    batch_end_callback=eval_batch_end_callback, epoch=epoch,
                )  # fmt: skip
                for name, value in scores:
                    self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, value)
            train_data.reset()
