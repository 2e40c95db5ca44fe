"""symgrad: a symbolic graph compiler with readable derivatives, in the style of mxnet.sym."""

# executor, printing, serialization, ops.api and autograd attach methods to Symbol and NDArray
# (graph.py and nd.py import nothing above them), so importing symgrad imports them all.
from . import (
    autograd,
    callback,
    context,
    executor,
    init,
    io,
    lr_scheduler,
    metric,
    model,
    module,
    nd,
    ops,
    optimizer,
    printing,
    serialization,
    sym,
    testing,
    viz,
)
from .compile.cache import cache_info, clear_cache, set_cache_limit
from .compile.choice import get_backend, set_backend
from .context import Context, cpu, current_context, gpu, num_gpus
from .errors import (
    AutogradError,
    BackendError,
    BindError,
    ExpressionError,
    GraphFormatError,
    NonFiniteError,
    ShapeError,
    SymgradError,
    UnknownNameError,
    set_track_origin,
)
from .graph import NameManager, Symbol

__version__ = "0.1.0"
symbol = sym  # MXNet's scripts spell it mx.symbol.Variable as often as mx.sym.var
mod = module  # MXNet's mx.mod.Module
random = nd.random  # mx.random.seed(n) seeds what nd.random, Dropout, initializers and NDArrayIter draw
__all__ = [
    "AutogradError",
    "BackendError",
    "Context",
    "context",
    "cpu",
    "current_context",
    "gpu",
    "num_gpus",
    "BindError",
    "ExpressionError",
    "GraphFormatError",
    "NameManager",
    "NonFiniteError",
    "ShapeError",
    "Symbol",
    "SymgradError",
    "UnknownNameError",
    "autograd",
    "callback",
    "cache_info",
    "clear_cache",
    "executor",
    "get_backend",
    "init",
    "io",
    "lr_scheduler",
    "metric",
    "model",
    "mod",
    "module",
    "nd",
    "optimizer",
    "ops",
    "printing",
    "random",
    "serialization",
    "set_backend",
    "set_cache_limit",
    "set_track_origin",
    "sym",
    "symbol",
    "testing",
    "viz",
]
