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
    return {case.name: (gallery.printed(case, False), gallery.printed(case, True)) for case in gallery.CASES}


def test_the_readme_holds_todays_table():
    readme = README.read_text()
    assert gallery.START in readme and gallery.END in readme
    assert gallery.with_table(readme) == readme, "run: python -m symgrad.gallery README.md"


def test_the_table_has_the_issue_cases_and_the_17_scalar_functions():
    assert len(gallery.CASES) >= 20
    assert sum(case.scalar for case in gallery.CASES) == 17


def test_with_shapes_declared_no_gradient_prints_plumbing_or_a_fraction_written_out(texts):
    for name, (_, declared) in texts.items():
        constant = re.fullmatch(r"(ones|full)\(\(\d+,\)(, [-\d./]+)?\)", declared)  # grad(sum(x)) is ones
        assert constant or not any(word in declared for word in PLUMBING), (name, declared)
        assert not LONG_FRACTION.search(declared), (name, declared)


def test_without_shapes_a_gradient_without_matrix_products_prints_at_most_twice_as_long(texts):
    for case in gallery.CASES:
        undeclared, declared = texts[case.name]
        if "dot" in undeclared or "@" in case.name or "regression" in case.name or "MLP" in case.name:
            continue
        assert len(undeclared) <= 2 * len(declared), (case.name, undeclared, declared)
        assert not LONG_FRACTION.search(undeclared), (case.name, undeclared)


def test_the_scalar_functions_print_the_same_with_and_without_shapes(texts):
    for case in gallery.CASES:
        if case.scalar:
            assert texts[case.name][0] == texts[case.name][1], case.name
