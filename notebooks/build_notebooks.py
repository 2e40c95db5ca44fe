"""Write the demo notebooks from the cells below and execute them in place (outputs saved).

python notebooks/build_notebooks.py [name ...]
"""

from __future__ import annotations

import pathlib
import sys

import nbformat
from nbclient import NotebookClient

HERE = pathlib.Path(__file__).resolve().parent
SETUP = "import numpy as np\nimport symgrad as sg\nfrom symgrad import sym, nd, autograd"

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01-symbols-and-executors": [
        ("md", "# Symbols and executors\nDefine a graph first, then run it: the `mxnet.sym` way."),
        ("code", SETUP),
        ("md", "The first tutorial's symbol cell. `NameManager` starts the auto-name counters afresh."),
        (
            "code",
            "with sg.NameManager():\n    a = sym.var(name='1')\n    b = sym.var(name='2')\n    c = 2 * a + b\na, b, c",
        ),
        ("code", "assert repr((a, b, c)) == '(<Symbol 1>, <Symbol 2>, <Symbol _plus0>)'"),
        ("md", "Names, arguments and outputs, MXNet style:"),
        (
            "code",
            "with sg.NameManager():\n    x = sym.var('x')\n    w = sym.var('w')\n"
            "    y = sym.sin(sym.dot(x, w), name='act') * 2 + 1\n"
            "print(y.list_arguments(), y.list_outputs())\n"
            "print([s.name for s in y.get_internals()])",
        ),
        ("md", "Shape inference, full and partial, and the error a mismatch gives:"),
        (
            "code",
            "print(y.infer_shape(x=(5, 3), w=(3, 2)))\nprint(y.infer_shape(x=(5, 3)))\n"
            "try:\n    y.infer_shape(x=(5, 3), w=(4, 2))\nexcept sg.ShapeError as err:\n    print(err)",
        ),
        ("md", "Bind arrays, run forward and backward. The plan is compiled once, at bind."),
        (
            "code",
            "rng = np.random.default_rng(0)\nargs = {'x': rng.normal(size=(5, 3)), 'w': rng.normal(size=(3, 2))}\n"
            "ex = y.bind(args, grad_req={'x': 'null', 'w': 'write'})\nout, = ex.forward(is_train=True)\n"
            "ex.backward()\nex.grad_dict['w']",
        ),
        (
            "code",
            "expected = args['x'].T @ (2 * np.cos(args['x'] @ args['w']))\n"
            "assert np.allclose(ex.grad_dict['w'], expected)\nassert ex.grad_dict['x'] is None  # grad_req='null', as MXNet",
        ),
        ("md", "`simple_bind` allocates zero arguments of given shapes:"),
        ("code", "ex2 = y.simple_bind(x=(2, 3), w=(3, 4))\n[a.shape for a in ex2.arg_arrays]"),
        ("md", "JSON round trip: loading treats the text as data only."),
        (
            "code",
            "text = y.tojson()\ny2 = sym.load_json(text)\nout2, = y2.eval(**args)\n"
            "assert np.allclose(out2, out)\nprint(text[:200], '...')",
        ),
    ],
    "02-autograd-d2l": [
        (
            "md",
            "# Automatic differentiation (the d2l chapter)\nThe PyTorch cells of the chapter, in symgrad's eager mode.",
        ),
        ("code", SETUP),
        ("md", "Differentiate $y = 2x^\\top x$ with respect to the column vector $x$."),
        ("code", "x = nd.arange(4.0)\nx"),
        ("md", "A place for the gradient. PyTorch accumulates gradients, so ask for `'add'`."),
        ("code", "x.attach_grad(grad_req='add')\nx.grad"),
        ("code", "with autograd.record():\n    y = 2 * nd.dot(x, x)\ny"),
        ("code", "y.backward()\nx.grad"),
        ("code", "assert (x.grad == 4 * x).asnumpy().all()\nx.grad == 4 * x"),
        ("md", "Another function of x: the gradient accumulates, so zero it first."),
        ("code", "with autograd.record():\n    y = x.sum()\ny.backward()\nx.grad"),
        ("code", "assert x.grad.asnumpy().tolist() == [1.0, 5.0, 9.0, 13.0]"),
        ("code", "x.grad[:] = 0\nwith autograd.record():\n    y = x.sum()\ny.backward()\nx.grad"),
        ("md", "Backward of a non-scalar goes through its sum."),
        (
            "code",
            "x.grad[:] = 0\nwith autograd.record():\n    y = x * x\n    s = y.sum()\ns.backward()\nx.grad",
        ),
        ("code", "assert x.grad.asnumpy().tolist() == [0.0, 2.0, 4.0, 6.0]"),
        ("md", "Detaching: `u` is a constant as far as the gradient is concerned."),
        (
            "code",
            "x.grad[:] = 0\nwith autograd.record():\n    y = x * x\n    u = y.detach()\n    z = u * x\n"
            "    s = z.sum()\ns.backward()\nx.grad == u",
        ),
        (
            "code",
            "assert (x.grad == u).asnumpy().all()\nx.grad[:] = 0\nwith autograd.record():\n    s = y.sum()\ns.backward()\nx.grad == 2 * x",
        ),
        ("md", "Python control flow: the gradient follows the path the values took."),
        (
            "code",
            "def f(a):\n    b = a * 2\n    while b.norm() < 1000:\n        b = b * 2\n    if b.sum() > 0:\n"
            "        c = b\n    else:\n        c = 100 * b\n    return c\n\n"
            "a = nd.random.normal(shape=())\na.attach_grad()\nwith autograd.record():\n    d = f(a)\nd.backward()\na.grad, d / a",
        ),
        ("code", "assert np.isclose(float(a.grad), float(d / a), rtol=1e-6)"),
    ],
    "03-mxnet-autograd": [
        ("md", "# MXNet autograd: attach_grad, head gradients, indexed assignment, retain_graph"),
        ("code", SETUP),
        ("md", "$z = 2x^2$, so $dz/dx = 4x$."),
        (
            "code",
            "x = nd.array([[1, 2], [3, 4]])\nx.attach_grad()\nwith autograd.record():\n    z = x * x * 2\nz.backward()\nx.grad",
        ),
        ("code", "assert (x.grad == 4 * x).asnumpy().all()"),
        ("md", "Head gradients: the chain rule's $dz/dy$ given by hand."),
        (
            "code",
            "with autograd.record():\n    y = x * 2\n    z = y * x\nhead_gradient = nd.array([[10, 1.], [.1, .01]])\n"
            "z.backward(head_gradient)\nx.grad",
        ),
        ("code", "assert np.allclose(x.grad.asnumpy(), [[40, 8], [1.2, 0.16]])"),
        ("md", "Indexed assignment while recording (PyTorch's `CopySlices`): $n = (m_0^2, m_1^3)$."),
        (
            "code",
            "m = nd.array([[2, 3]])\nm.attach_grad()\nn = nd.zeros((1, 2))\nwith autograd.record():\n"
            "    n[0, 0] = m[0, 0] ** 2\n    n[0, 1] = m[0, 1] ** 3\nn.backward(nd.ones_like(n))\nn, m.grad",
        ),
        ("code", "assert m.grad.asnumpy().tolist() == [[4.0, 27.0]]"),
        ("md", "Two backward passes over one graph need `retain_graph=True` on the first."),
        (
            "code",
            "x = nd.array([3])\nx.attach_grad(grad_req='add')\nwith autograd.record():\n    y = x * 2 + x ** 2 + 3\n"
            "y.backward(retain_graph=True)\nfirst = x.grad.asscalar()\ny.backward()\nfirst, x.grad.asscalar()",
        ),
        ("code", "assert (first, x.grad.asscalar()) == (8.0, 16.0)"),
        ("md", "`mean(y - matmul(x, w))`: gradients for all three."),
        (
            "code",
            "x, y, w = nd.random.normal(shape=(10, 20)), nd.random.normal(shape=(10, 5)), nd.random.normal(shape=(20, 5))\n"
            "for v in (x, y, w):\n    v.attach_grad()\nwith autograd.record():\n    out = nd.mean(y - nd.matmul(x, w))\n"
            "out.backward()\ny.grad[:2]",
        ),
        (
            "code",
            "assert np.allclose(y.grad.asnumpy(), 0.02)\nassert np.allclose(w.grad.asnumpy(), -x.asnumpy().sum(0)[:, None] / 50)",
        ),
    ],
    "04-control-flow": [
        ("md", "# Control flow, and what `record()` captured"),
        ("code", SETUP),
        (
            "code",
            "def f(a):\n    b = a * 2\n    while b.norm() < 1000:\n        b = b * 2\n    if b.sum() > 0:\n"
            "        c = b\n    else:\n        c = 100 * b\n    return c",
        ),
        ("md", "For any input, $f(a) = k a$ for a $k$ that depends on $a$, so the gradient is $d / a$."),
        (
            "code",
            "np.random.seed(3)\nfor _ in range(4):\n    a = nd.random.normal(shape=())\n    a.attach_grad()\n"
            "    with autograd.record():\n        d = f(a)\n    d.backward()\n"
            "    print(f'a = {float(a):+.4f}   grad = {float(a.grad):10.1f}   d/a = {float(d / a):10.1f}')\n"
            "    assert np.isclose(float(a.grad), float(d / a), rtol=1e-6)",
        ),
        ("md", "A second backward frees nothing silently: it says what to do."),
        ("code", "try:\n    d.backward()\nexcept sg.AutogradError as err:\n    print(err)"),
        ("md", "`get_symbol` gives the recorded history as a Symbol: printable and bindable."),
        (
            "code",
            "a = nd.array(0.3)\na.attach_grad()\nwith autograd.record():\n    d = f(a)\nd.backward()\ns = autograd.get_symbol(d)\nprint(s)\ns",
        ),
        (
            "code",
            "(name,) = s.list_arguments()\nex = s.bind({name: a.asnumpy()})\nout, = ex.forward(is_train=True)\nex.backward()\n"
            "assert np.isclose(out, d.asscalar()) and np.isclose(ex.grad_dict[name], a.grad.asscalar())\n"
            "out, ex.grad_dict[name]",
        ),
    ],
    "05-inside-the-compiler": [
        ("md", "# Inside the compiler: gradient graphs, simplification, printing"),
        ("code", SETUP + "\nfrom symgrad.graph import topo_order"),
        ("md", "A small network's loss and its gradient graph, before and after simplification."),
        (
            "code",
            "x, w, b = sym.var('x', shape=(8, 4)), sym.var('w', shape=(4, 3)), sym.var('b', shape=(3,))\n"
            "labels = sym.var('labels', shape=(8, 3))\n"
            "loss = -sym.mean(sym.sum(labels * sym.log_softmax(sym.tanh(sym.dot(x, w) + b)), axis=1))\n"
            "raw = sym.grad(loss, w, simplify=False)\nsimple = sym.grad(loss, w)\n"
            "sizes = [len(topo_order([s])) for s in (loss, raw, simple)]\nsizes",
        ),
        ("code", "assert sizes[2] <= sizes[1]"),
        ("code", "simplified, report = sym.simplify(raw, explain=True)\nprint(report)"),
        ("code", "print(simple)"),
        ("md", "Pictures of both graphs (Graphviz's layout when it is installed, symgrad's own layered drawing otherwise)."),
        ("code", "sg.viz.plot_network(raw, title='gradient, as derived')"),
        ("code", "sg.viz.plot_network(simple, title='gradient, simplified')"),
        ("md", "Readable derivatives, printed and in LaTeX:"),
        ("code", "t = sym.var('t')\nf = sym.sin(t) * sym.exp(t) / (1 + t ** 2)\nprint(sym.grad(f, t))\nsym.grad(f, t)"),
        ("md", "Higher order: the gradient of a gradient is just another graph."),
        (
            "code",
            "d1 = sym.grad(t ** 4, t)\nd2 = sym.grad(d1, t)\nd3 = sym.grad(d2, t)\nprint(d1, '|', d2, '|', d3)\n"
            "assert str(d3) == '24*t'",
        ),
        ("md", "Hessian-vector products never form the Hessian; Jacobians need known shapes."),
        (
            "code",
            "v = sym.var('v', shape=(3,))\nz = sym.var('z', shape=(3,))\nhv = sym.hvp(sym.sum(z ** 3), z, v)\nprint(hv)\n"
            "J = sym.jacobian(sym.sin(z), z)\nJ.eval(z=np.array([0.0, 1.0, 2.0]))[0].asnumpy().round(3)",
        ),
        ("md", "Stability rewrites: `log(sigmoid(x))` becomes `-softplus(-x)`, finite where the naive form is not."),
        (
            "code",
            "u = sym.var('u')\nnaive = sym.log(sym.sigmoid(u))\nprint(sym.simplify(naive))\n"
            "ex = naive.bind({'u': np.array([-800.0, 0.0, 800.0])})\nvalue, = ex.forward(is_train=True)\nex.backward()\n"
            "assert np.all(np.isfinite(value)) and np.all(np.isfinite(ex.grad_dict['u']))\nvalue, ex.grad_dict['u']",
        ),
        ("md", "## The executor: one flat plan, tiled when it can be"),
        (
            "md",
            "At bind the forward and backward graphs become flat programs over numbered slots. A chain of "
            "20 elementwise ops over a million elements runs forward and backward in one tiled pass: the "
            "scratch tiles stay in cache and no full-size intermediate is kept for the backward.",
        ),
        (
            "code",
            "import tracemalloc\nfrom symgrad import executor\n\nxs, zs = sym.var('x'), sym.var('z')\nt = xs\n"
            "for _ in range(4):\n    t = sym.exp(-((sym.tanh(sym.sin(t) * zs) + zs) ** 2))\n"
            "rng = np.random.default_rng(0)\nxv, zv = rng.uniform(-1, 1, 10**6), rng.uniform(-1, 1, 10**6)\n"
            "ex = sym.sum(t).bind({'x': xv, 'z': zv})\nex.plan_stats()",
        ),
        (
            "code",
            "tracemalloc.start()\nex.forward(is_train=True)\nex.backward()\n"
            "peak_mib = tracemalloc.get_traced_memory()[1] / 2**20\ntracemalloc.stop()\n"
            "u = xv  # the same chain by hand\nfor _ in range(4):\n    u = np.exp(-((np.tanh(np.sin(u) * zv) + zv) ** 2))\n"
            "assert np.isclose(ex.outputs[0], u.sum(), rtol=1e-12) and peak_mib < 40\n"
            "print(f'peak extra memory {peak_mib:.0f} MiB; each input is {xv.nbytes / 2**20:.0f} MiB')",
        ),
        ("md", "Binding the same structure again reuses the compiled plan."),
        (
            "code",
            "hits = sg.cache_info().hits\nex2 = sym.sum(t).bind({'x': xv / 2, 'z': zv})\n"
            "assert sg.cache_info().hits == hits + 1\nex2.forward()[0]",
        ),
    ],
    "06-mxnet-layers-digits": [
        (
            "md",
            "# MXNet's layers: an MLP and LeNet on handwritten digits\n"
            "The networks of MXNet's `example/image-classification/symbols/mlp.py` and `lenet.py`, built from "
            "symgrad's layer ops with the same calls and arguments, trained with MXNet's classic low-level loop "
            "(`simple_bind`, `forward(is_train=True)`, `backward`, an SGD update) on scikit-learn's bundled "
            "digits: 1,797 8x8 images shipped inside scikit-learn, no download. A quarter is held out for testing.",
        ),
        (
            "code",
            SETUP + "\nimport inspect, time\nimport matplotlib.pyplot as plt\nimport networkx as nx\n"
            "from sklearn.datasets import load_digits\nfrom sklearn.model_selection import train_test_split\n"
            "from threadpoolctl import threadpool_limits\nfrom symgrad import models\n\n"
            "threadpool_limits(1)  # one BLAS thread: these matrices are small, more threads only contend\n"
            "digits = load_digits()\nx = (digits.images / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)\n"
            "y = digits.target.astype(np.float32)\n"
            "x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)\n"
            "x_train.shape, x_test.shape",
        ),
        (
            "md",
            "The two networks, as `symgrad.models` writes them (LeNet's 5x5 kernels get `pad=(2, 2)` for 8x8 images):",
        ),
        ("code", "print(inspect.getsource(models.mlp))\nprint(inspect.getsource(models.lenet))"),
        (
            "md",
            "A layer called without weights makes `<name>_weight` and `<name>_bias` variables, and the loss layer "
            "its `softmax_label`, as in MXNet; `infer_shape` gives their shapes from the data's.",
        ),
        (
            "code",
            "lenet = models.lenet(pad=(2, 2))\narg_shapes, out_shapes, _ = lenet.infer_shape(data=(32, 1, 8, 8))\n"
            "for name, shape in zip(lenet.list_arguments(), arg_shapes):\n    print(f'{name:14} {shape}')\n"
            "assert dict(zip(lenet.list_arguments(), arg_shapes))['fc1_weight'] == (500, 200)",
        ),
        ("md", "A picture of LeNet (inputs at the top, the loss layer at the bottom):"),
        (
            "code",
            "graph = sg.viz.to_networkx(lenet)\nlayers = [k for k in nx.topological_sort(graph) if graph.nodes[k]['op'] != 'var']\n"
            "pos = {k: (0, -2 * i) for i, k in enumerate(layers)}  # the layers in a column, each input beside its layer\n"
            "for k in layers:\n    inputs = [v for v in graph.predecessors(k) if graph.nodes[v]['op'] == 'var']\n"
            "    for j, v in enumerate(inputs):\n        pos[v] = (1.5 * (j + 1), 0.8 - 2 * layers.index(k) - 0.5 * j)\n"
            "labels = {k: d['name'] if d['op'] == 'var' else f\"{d['op']}\\n{d['name']}\" for k, d in graph.nodes(data=True)}\n"
            "colors = ['#cde' if d['op'] == 'var' else '#fda' for _, d in graph.nodes(data=True)]\n"
            "fig, ax = plt.subplots(figsize=(8, 9))\n"
            "nx.draw_networkx(graph, pos, ax=ax, labels=labels, node_color=colors, node_shape='s', node_size=1800,\n"
            "                 font_size=7, arrowsize=10, edge_color='#555')\n"
            "ax.set_axis_off()\nplt.show()",
        ),
        (
            "md",
            "Training: the same loop for both networks (`models.fit`): Xavier initialization, SGD with momentum "
            "0.9 and weight decay 1e-4, batches of 32, a fixed seed and number of epochs.",
        ),
        (
            "code",
            "results = {}\nfor name, net, lr in [('MLP', models.mlp(), 0.1), ('LeNet', lenet, 0.05)]:\n"
            "    start = time.perf_counter()\n"
            "    ex, losses = models.fit(net, x_train, y_train, epochs=10, learning_rate=lr, seed=0)\n"
            "    seconds = time.perf_counter() - start\n"
            "    accuracy = float(np.mean(models.predict(net, ex, x_test).argmax(axis=1) == y_test))\n"
            "    results[name] = (ex, losses, accuracy)\n"
            "    print(f'{name}: test accuracy {accuracy:.2%} after 10 epochs ({seconds:.1f} s)')",
        ),
        ("code", "assert results['MLP'][2] >= 0.95 and results['LeNet'][2] >= 0.97"),
        (
            "code",
            "fig, ax = plt.subplots(figsize=(6, 3.5))\nfor name, (_, losses, acc) in results.items():\n"
            "    ax.plot(range(1, len(losses) + 1), losses, marker='o', label=f'{name} (test accuracy {acc:.1%})')\n"
            "ax.set_yscale('log')\nax.set_xlabel('epoch')\nax.set_ylabel('training cross-entropy')\nax.legend()\nplt.show()",
        ),
        (
            "md",
            "The gradient of the last layer's weight, as `sym.grad` prints it: SoftmaxOutput's backward is "
            "MXNet's `softmax(x) - one_hot(label)` (the head gradient is ignored), here with the data's shape "
            "declared so the printed graph needs no shape-generic helpers.",
        ),
        (
            "code",
            "shaped = models.lenet(pad=(2, 2), data_shape=(32, 1, 8, 8))\nprint(sym.grad(shaped, 'fc2_weight'))",
        ),
        (
            "md",
            "The trained executor's gradient agrees with that printed graph evaluated on the same batch:",
        ),
        (
            "code",
            "ex = results['LeNet'][0]\nex.forward(is_train=True, data=x_test[:32], softmax_label=y_test[:32])\nex.backward()\n"
            "g = sym.grad(shaped, 'fc2_weight')\n"
            "(value,) = g.eval(**{n: ex.arg_dict[n] for n in g.list_arguments()})\n"
            "assert np.allclose(value, ex.grad_dict['fc2_weight'], rtol=1e-4, atol=1e-6)\nvalue.shape",
        ),
        (
            "md",
            "## The same with MXNet's Module\n"
            "MXNet's high-level driver, as its Module tutorial writes it: `NDArrayIter` batches (shuffled with "
            "NumPy's generator, the last batch padded), `Module.fit` with a metric logged each epoch, then "
            "`score` and `predict`. Module keeps MXNet's defaults: `rescale_grad` is 1/batch_size and weight "
            "decay skips the biases.",
        ),
        (
            "code",
            "import logging\nlogging.basicConfig(level=logging.INFO, format='%(message)s', force=True)\n"
            "np.random.seed(0)\n"
            "train_iter = sg.io.NDArrayIter(x_train, y_train, batch_size=32, shuffle=True)\n"
            "test_iter = sg.io.NDArrayIter(x_test, y_test, batch_size=32)\n"
            "mod = sg.mod.Module(models.lenet(pad=(2, 2)), context=sg.cpu())\n"
            "mod.fit(train_iter, eval_data=test_iter, optimizer='sgd',\n"
            "        optimizer_params={'learning_rate': 0.05, 'momentum': 0.9, 'wd': 1e-4},\n"
            "        initializer=sg.init.Xavier(), eval_metric='acc', num_epoch=6)\n"
            "score = dict(mod.score(test_iter, ['acc', 'ce']))\nscore",
        ),
        (
            "code",
            "probs = mod.predict(test_iter)  # the padding of the last batch dropped: one row per test image\n"
            "assert probs.shape == (len(x_test), 10) and score['accuracy'] >= 0.95\n"
            "float(np.mean(probs.asnumpy().argmax(axis=1) == y_test))",
        ),
    ],
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src) for kind, src in cells
    ]
    return nb


def main(names: list[str]) -> None:
    """Build the named notebooks (all without names)."""
    for name, cells in NOTEBOOKS.items():
        if names and name not in names:
            continue
        nb = build(name, cells)
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print("wrote", name)


if __name__ == "__main__":
    main(sys.argv[1:])
