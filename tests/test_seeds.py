"""Every computational cell of the tutorials in shared/seeds/, ported to symgrad.

Each test is one tutorial; comments name the cell. Numbers are the tutorials' own;
for random inputs, the identities the tutorial checks (such as a.grad == d / a).
"""

import numpy as np
import pytest

import symgrad as sg
from symgrad import autograd, nd, sym


def assert_grad_is_d_over_a(a, d):
    """The tutorial's a.grad == d / a; d / a rounds once in float32 when the loop took 100*b."""
    np.testing.assert_allclose(a.grad.asnumpy(), (d / a).asnumpy(), rtol=1e-6)


def control_flow(a):
    """The tutorials' f(a): a data-dependent while loop and if."""
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


def test_seed_000_mxnet_cells_and_d2l_chapter_in_pytorch():
    # In [1]: symbols
    with sg.NameManager():
        a = sym.var(name="1")
        b = sym.var(name="2")
        c = 2 * a + b
        assert repr((a, b, c)) == "(<Symbol 1>, <Symbol 2>, <Symbol _plus0>)"
    # In [2]: recording NDArrays
    with autograd.record():
        a = nd.ones((2, 1))
        b = nd.ones((2, 1))
        c = 2 * a + b
    assert repr(c) == "\n[[3.]\n [3.]]\n<NDArray 2x1 @cpu(0)>"
    # In [3]-[4]: x = arange(4.0), a place for its gradient (PyTorch accumulates: 'add')
    x = nd.arange(4.0)
    np.testing.assert_array_equal(x.asnumpy(), [0.0, 1.0, 2.0, 3.0])
    x.attach_grad(grad_req="add")
    # In [5]: y = 2 * dot(x, x)
    with autograd.record():
        y = 2 * nd.dot(x, x)
    assert float(y) == 28.0
    # In [6]-[7]
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0.0, 4.0, 8.0, 12.0])
    assert (x.grad == 4 * x).asnumpy().all()
    # In [8]: accumulation by default in the tutorial
    with autograd.record():
        y = x.sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [1.0, 5.0, 9.0, 13.0])
    # In [9]-[10]: zero the gradient first
    x.grad[:] = 0
    with autograd.record():
        y = x.sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [1.0, 1.0, 1.0, 1.0])
    assert float(y) == 6.0
    # In [11]: non-scalar backward through sum
    x.grad[:] = 0
    with autograd.record():
        y = x * x
        total = y.sum()
    total.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0.0, 2.0, 4.0, 6.0])
    # In [13]-[14]: detach
    x.grad[:] = 0
    with autograd.record():
        y = x * x
        u = y.detach()
        z = u * x
        z_sum = z.sum()
    z_sum.backward()
    assert (x.grad == u).asnumpy().all()
    np.testing.assert_array_equal(u.asnumpy(), [0.0, 1.0, 4.0, 9.0])
    # In [15]-[16]: y's own graph is still there
    x.grad[:] = 0
    with autograd.record():
        y_sum = y.sum()
    y_sum.backward()
    assert (x.grad == 2 * x).asnumpy().all()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0.0, 2.0, 4.0, 6.0])
    # In [17]-[21]: control flow
    a = nd.random.normal(shape=())
    a.attach_grad()
    with autograd.record():
        d = control_flow(a)
    d.backward()
    assert_grad_is_d_over_a(a, d)


def test_seed_001_pytorch_variable_tutorial():
    # In [2]-[3]: z = (x + 2)**2 + 3
    x = nd.array([2])
    x.attach_grad()
    with autograd.record():
        y = x + 2
        z = y**2 + 3
    np.testing.assert_array_equal(z.asnumpy(), [19.0])
    z.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [8.0])
    # In [4]-[8]: mean(y - matmul(x, w)) gradients for x, y and w
    x = nd.random.normal(shape=(10, 20))
    y = nd.random.normal(shape=(10, 5))
    w = nd.random.normal(shape=(20, 5))
    for v in (x, y, w):
        v.attach_grad()
    with autograd.record():
        out = nd.mean(y - nd.matmul(x, w))
    out.backward()
    np.testing.assert_allclose(y.grad.asnumpy(), np.full((10, 5), 0.02), rtol=1e-6)
    expected_x = np.tile(-w.asnumpy().sum(axis=1) / 50, (10, 1))
    np.testing.assert_allclose(x.grad.asnumpy(), expected_x, rtol=1e-5, atol=1e-6)  # float32 sums
    expected_w = np.tile(-x.asnumpy().sum(axis=0)[:, None] / 50, (1, 5))
    np.testing.assert_allclose(w.grad.asnumpy(), expected_w, rtol=1e-5, atol=1e-6)
    # In [9]-[11]: indexed assignment with a head gradient of ones
    m = nd.array([[2, 3]])
    m.attach_grad()
    n = nd.zeros((1, 2))
    with autograd.record():
        n[0, 0] = m[0, 0] ** 2
        n[0, 1] = m[0, 1] ** 3
    np.testing.assert_array_equal(n.asnumpy(), [[4.0, 27.0]])
    n.backward(nd.ones_like(n))
    np.testing.assert_array_equal(m.grad.asnumpy(), [[4.0, 27.0]])
    # In [12]-[16]: retain_graph and a second, accumulating backward
    x = nd.array([3])
    x.attach_grad(grad_req="add")
    with autograd.record():
        y = x * 2 + x**2 + 3
    np.testing.assert_array_equal(y.asnumpy(), [18.0])
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.asnumpy(), [8.0])
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [16.0])


def test_seed_002_d2l_script_outputs():
    x = nd.arange(4.0)
    np.testing.assert_array_equal(x.asnumpy(), [0, 1, 2, 3])
    x.attach_grad()
    with autograd.record():
        y = 2 * nd.dot(x, x)
    assert float(y) == 28.0
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 4, 8, 12])
    assert (x.grad == 4 * x).asnumpy().all()
    with autograd.record():
        y = x.sum()
    y.backward()
    assert float(y) == 6.0
    np.testing.assert_array_equal(x.grad.asnumpy(), [1, 1, 1, 1])
    with autograd.record():
        y = x * x
        s = y.sum()
    s.backward()
    np.testing.assert_array_equal(y.asnumpy(), [0, 1, 4, 9])
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 2, 4, 6])
    with autograd.record():
        y = x * x
        u = y.detach()
        z = u * x
        s = z.sum()
    s.backward()
    assert (x.grad == u).asnumpy().all()
    np.testing.assert_array_equal(z.asnumpy(), [0, 1, 8, 27])
    with autograd.record():
        s = y.sum()
    s.backward()
    assert (x.grad == 2 * x).asnumpy().all()
    for _ in range(5):
        a = nd.random.normal(shape=())
        a.attach_grad()
        with autograd.record():
            d = control_flow(a)
        d.backward()
        assert_grad_is_d_over_a(a, d)


def test_seed_003_mxnet_attach_grad_control_flow_and_head_gradient():
    x = nd.array([[1, 2], [3, 4]])
    x.attach_grad()
    with autograd.record():
        z = x * x * 2
    z.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), 4 * x.asnumpy())
    a = nd.random_normal(shape=3)
    a.attach_grad()
    with autograd.record():
        c = control_flow(a)
    c.backward()
    ratio = (c / a).asnumpy()
    np.testing.assert_allclose(a.grad.asnumpy(), ratio, rtol=1e-6)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-6)  # f(a) = k*a for one k
    assert nd.norm(a).asscalar() > 0
    with autograd.record():
        y = x * 2
        z = y * x
    head_gradient = nd.array([[10, 1.0], [0.1, 0.01]])
    z.backward(head_gradient)
    np.testing.assert_allclose(x.grad.asnumpy(), [[40.0, 8.0], [1.2, 0.16]], rtol=1e-6)


def test_seed_004_d2l_chapter_with_zeroing():
    x = nd.arange(4.0)
    x.attach_grad(grad_req="add")
    with autograd.record():
        y = 2 * nd.dot(x, x)
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 4, 8, 12])
    x.grad[:] = 0
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 0, 0, 0])
    with autograd.record():
        y = x.sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [1, 1, 1, 1])
    x.grad[:] = 0
    with autograd.record():
        y = x * x
        s = y.sum()
    s.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 2, 4, 6])
    x.grad[:] = 0
    with autograd.record():
        y = x * x
        u = y.detach()
        z = u * x
        s = z.sum()
    s.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [0, 1, 4, 9])
    a = nd.random.normal(shape=())
    a.attach_grad()
    with autograd.record():
        d = control_flow(a)
    d.backward()
    assert_grad_is_d_over_a(a, d)


@pytest.mark.parametrize("value", [-0.4536, 0.0472, -0.8470])
def test_control_flow_gradient_at_the_tutorials_printed_inputs(value):
    a = nd.array(value)
    a.attach_grad()
    with autograd.record():
        d = control_flow(a)
    d.backward()
    np.testing.assert_allclose(a.grad.asnumpy(), (d / a).asnumpy(), rtol=1e-6)
    if value == -0.4536:
        assert float(a.grad) == 409600.0  # the tutorial's printed tensor(409600.)
