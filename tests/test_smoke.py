"""The seed cell of the first tutorial, symbolically: names and the value of 2*a + b."""

import numpy as np

from symgrad import NameManager, sym


def test_seed_symbol_cell_names_and_value():
    with NameManager():
        a = sym.var(name="1")
        b = sym.var(name="2")
        c = 2 * a + b
        assert repr((a, b, c)) == "(<Symbol 1>, <Symbol 2>, <Symbol _plus0>)"
    (out,) = c.eval(**{"1": np.ones((2, 1)), "2": np.ones((2, 1))})
    np.testing.assert_array_equal(out, [[3.0], [3.0]])
