"""The README's table of printed gradients is today's output, and shows what it is meant to show."""

import pathlib
import re

import pytest

from symgrad import gallery

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
PLUMBING = ("broadcast_like", "ones_like", "reduce_size", "dot_adjoint", "matmul_adjoint", "ones((")
LONG_FRACTION = re.compile(r"\d\.\d{7,}")  # 0.6666666666666666, 0.1111111111111111: a fraction written out


@pytest.fixture(scope="module")
def texts():
    """{case name: (printed with shapes undeclared, with ranks only, with full shapes)}."""
    return {case.name: tuple(gallery.printed(case, shapes) for shapes in gallery.SHAPES) for case in gallery.CASES}


def test_the_readme_holds_todays_table():
    readme = README.read_text()
    assert gallery.START in readme and gallery.END in readme
    assert gallery.with_table(readme) == readme, "run: python -m symgrad.gallery README.md"


def test_the_table_has_the_issue_cases_and_the_17_scalar_functions():
    assert len(gallery.CASES) >= 20
    assert sum(case.scalar for case in gallery.CASES) == 17


# A gradient that is one value everywhere (grad(sum(x)) is ones) is an array of x's shape: with shapes
# declared it prints as one, the shape as numbers (ones((5,)), full((5,), 0.2)); with ranks only as ones(shape(x))
CONSTANT = r"(ones|full)\(\(\d+,\)(, [-\d./]+)?\)"


@pytest.mark.parametrize("column", [1, 2], ids=["ranks only", "full shapes"])
def test_with_ranks_or_shapes_declared_no_gradient_prints_plumbing_or_a_fraction_written_out(texts, column):
    kind = gallery.SHAPES[column]
    for name, printed in texts.items():
        text = printed[column]
        constant = kind == "full" and re.fullmatch(CONSTANT, text)
        assert constant or not any(word in text for word in PLUMBING), (name, text)
        assert not LONG_FRACTION.search(text), (name, text)


def test_with_ranks_only_a_broadcast_prints_as_with_full_shapes_its_shape_named_symbolically(texts):
    shown = 0
    for name, (_, ranks, full) in texts.items():
        if re.fullmatch(CONSTANT, full):  # ones((5,)) / full((5,), 0.2): ones of x's shape (over its size)
            shown += 1
            assert re.fullmatch(r"ones\(shape\((\w+)\)\)(/size\(\1\))?", ranks), (name, ranks, full)
        spread = re.fullmatch(r"broadcast_to\((.*), shape=\([\d, ]+\)\)", full)
        if spread:  # broadcast_to(e, shape=(2, 3)): the same e, to the shape of the variable it differentiates by
            shown += 1
            assert re.fullmatch(rf"broadcast_to\({re.escape(spread[1])}, shape\(\w+\)\)", ranks), (name, ranks)
    assert shown == 3  # mean(x), sum(x), sum(x @ y) by y


def test_with_ranks_only_matrix_products_differentiate_to_plain_products_as_with_full_shapes(texts):
    adjoints = 0
    for name, (undeclared, ranks, full) in texts.items():
        adjoints += "_adjoint" in undeclared
        assert "_adjoint" not in ranks, (name, ranks)
        assert ("dot(X.T, " in ranks) == ("dot(X.T, " in full), (name, ranks, full)
    assert adjoints >= 4  # what the rank tells: undeclared, these print dot_adjoint_lhs/rhs


def test_without_shapes_a_gradient_without_matrix_products_prints_at_most_twice_as_long(texts):
    for case in gallery.CASES:
        undeclared, _, declared = texts[case.name]
        if "dot" in undeclared or "@" in case.name or "regression" in case.name or "MLP" in case.name:
            continue
        assert len(undeclared) <= 2 * len(declared), (case.name, undeclared, declared)
        assert not LONG_FRACTION.search(undeclared), (case.name, undeclared)


def test_the_scalar_functions_print_the_same_with_and_without_shapes(texts):
    for case in gallery.CASES:
        if case.scalar:
            assert texts[case.name][0] == texts[case.name][1] == texts[case.name][2], case.name
