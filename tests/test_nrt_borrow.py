"""``nrt_borrow.borrow``: a view of the same memory with no owner, so numba counts no references.

The kernels rely on two things: writes through the view reach the caller's array (same data,
shape and strides, contiguous or not), and the view's owner pointer is null (numba's reference
counting then skips it). The second is read with a small intrinsic here, from numba's own array
structure.
"""

import numpy as np
import pytest
from numba import njit
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from ballast.nrt_borrow import borrow


@intrinsic
def _owner_address(typingctx, arr):
    """The address of the array's owner (numba's meminfo), 0 if it has none."""

    def codegen(context, builder, signature, args):
        ary = make_array(signature.args[0])(context, builder, value=args[0])
        return builder.ptrtoint(ary.meminfo, context.get_value_type(types.intp))

    return types.intp(arr), codegen


@njit
def _owners(a):
    return _owner_address(a), _owner_address(borrow(a))


@njit
def _write_through(a, value):
    v = borrow(a)
    for i in range(v.shape[0]):
        v[i] = value + i
    return v.shape, v.strides, v.sum()


@njit
def _write_2d(a):
    v = borrow(a)
    v[1, 2] = -7.0
    return v.shape, v.strides


def test_the_borrowed_view_has_no_owner():
    a = np.zeros(5)
    owner, borrowed = _owners(a)
    assert owner != 0
    assert borrowed == 0


@pytest.mark.parametrize("a", [np.zeros(6), np.zeros(12)[::3], np.zeros(4, np.float32),
                               np.zeros(5, np.int64)], ids=["c", "strided", "f32", "i64"])
def test_writes_through_the_view_reach_the_array(a):
    shape, strides, total = _write_through(a, 10)
    assert shape == a.shape and strides == a.strides
    assert list(a) == [10 + i for i in range(a.shape[0])]
    assert total == sum(10 + i for i in range(a.shape[0]))


def test_a_2d_view_keeps_its_strides():
    a = np.zeros((3, 4))
    shape, strides = _write_2d(a)
    assert shape == (3, 4) and strides == a.strides
    assert a[1, 2] == -7.0 and np.count_nonzero(a) == 1


def test_only_arrays_can_be_borrowed():
    @njit
    def f(x):
        return borrow(x)

    with pytest.raises(TypingError):
        f(1.0)
