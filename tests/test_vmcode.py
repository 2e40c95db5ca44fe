"""A plan as VM code (issue #25): translation is plain data, tested without Numba."""

import math

import numpy as np
import pytest

from symgrad import sym
from symgrad.compile import vmcode
from symgrad.compile.backends import run

rng = np.random.default_rng(2025)


@pytest.mark.parametrize("seed", range(20))
def test_a_block_is_shared_only_by_values_whose_lives_do_not_overlap_and_no_more_blocks_are_made(seed):
    gen = np.random.default_rng(seed)
    n = int(gen.integers(1, 300))
    born_at = np.sort(gen.choice(4 * n, n, replace=False))
    lives = gen.integers(0, 40, n)
    freed = gen.random(n) < 0.8  # the others are kept to the end (outputs, values NumPy steps read)
    births = np.arange(n) + 7  # slots
    order = np.lexsort((np.arange(n), born_at + lives))
    order = order[freed[order]]
    deaths, dead_at = births[order], (born_at + lives)[order]
    blocks = vmcode._allocate(births, born_at, deaths, dead_at, n + 8)
    end = np.where(freed, born_at + lives, np.iinfo(np.int64).max)
    for i in range(n):
        for j in range(i + 1, n):
            if blocks[i] == blocks[j]:  # j is born after i: only once i is freed, at an earlier step
                assert end[i] < born_at[j], (i, j)
    live = [int(((born_at <= t) & (t <= end)).sum()) for t in born_at]
    assert blocks.max() + 1 == max(live)


def w5_like(n: int = 300):
    xs = [sym.var(f"x{i}", shape=(16,)) for i in range(3)]
    nodes = list(xs)
    for i in range(n):
        a, b = nodes[int(rng.integers(len(nodes)))], nodes[int(rng.integers(len(nodes)))]
        nodes.append([sym.sin(a), sym.tanh(b), a * b, a - b, 2.5 * a, -b][i % 6])
    y = sym.sum(nodes[-1] + nodes[-2])
    return y, {name: rng.uniform(-1, 1, 16) for name in y.list_arguments()}


def test_each_step_writes_a_block_no_live_value_holds():
    y, args = w5_like()
    ex = y.bind(args, backend="numpy")
    forward, backward = ex._compiled.forward, ex._compiled.backward
    values = list(ex._arg_list)
    saved = list(run(forward, values)[0][forward.frame_from :])
    frame = vmcode.Frame(np.concatenate([s.ravel() for s in saved]), tuple(s.shape for s in saved))
    for program, inputs in ((forward, values), (backward, [frame] + [None] * (len(saved) - 1) + values)):
        vm = vmcode.translate(program, inputs, program.frame_from, program.frame_at)
        rows = np.concatenate([seg for seg in vm.segments if type(seg) is np.ndarray])
        assert len(rows) == len(program.plan) + sum(off >= 0 for off, _ in vm.outputs)  # all in the VM
        block = {}  # slot -> (start, end) in the arena
        for j, start, end, _ in vm.loads:
            block[j] = (start, end)
        for s, _ in program.consts:
            start = (vm.views[s].ctypes.data - vm.arena.ctypes.data) // 8
            block[s] = (start, start + vm.views[s].size)
        kept = set(program.out_slots) | set(block)
        live = set(block)
        for node, (_, _, s, dead, _), row in zip(program.nodes, program.plan, rows):
            start, end = row[1], row[1] + math.prod(node.shape)
            for j in live:  # the step's inputs too: a value freed at a step is not reused by it
                assert block[j][1] <= start or end <= block[j][0], (s, j)
            block[s] = (start, end)
            live = (live | {s}) - {j for j in dead if j not in kept}
        assert vm.arena.size < sum(end - start for start, end in block.values())  # blocks are reused


def test_a_frame_stands_for_the_float64_values_it_carries():
    y, args = w5_like(40)
    ex = y.bind(args, backend="numpy")
    backward = ex._compiled.backward
    values = list(ex._arg_list)
    saved = list(run(ex._compiled.forward, values)[0][ex._compiled.forward.frame_from :])
    frame = vmcode.Frame(np.concatenate([s.ravel() for s in saved]), tuple(s.shape for s in saved))
    packed = vmcode.translate(backward, [frame] + [None] * (len(saved) - 1) + values, None, 0)
    unpacked = vmcode.translate(backward, saved + values, None, 0)
    assert packed.loads == unpacked.loads and packed.frame_offset == unpacked.frame_offset == 0
    assert all(np.array_equal(p, u) for p, u in zip(packed.segments, unpacked.segments))
