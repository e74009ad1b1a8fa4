"""Borrowed array views for compiled hot loops: ``borrow(a)`` is ``a`` without its owner.

numba counts references to every array it passes around (``NRT_incref``/``NRT_decref``, each an
atomic add on the array's owner). Inside a loop that hands arrays to many inlined functions, the
counts it cannot prove unneeded stay, tens per tick. A view whose owner pointer is null costs a
null check instead (numba's ``NRT_incref`` returns at once on null). Hand-written because no
library offers it (numba's own ``carray`` takes a pointer and a shape, not an array).

Safe only while the owner lives: use it on a kernel's arguments (the caller holds them for the
call) and never let the view escape the kernel.
"""

from __future__ import annotations

from numba.core import cgutils, types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

__all__ = ["borrow"]


@intrinsic
def borrow(typingctx, arr):
    """The array ``arr`` with a null owner: same data, shape and strides, no reference count."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        src = make_array(aryty)(context, builder, value=args[0])
        dst = make_array(aryty)(context, builder)
        dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
        dst.parent = cgutils.get_null_value(dst.parent.type)
        dst.nitems = src.nitems
        dst.itemsize = src.itemsize
        dst.data = src.data
        dst.shape = src.shape
        dst.strides = src.strides
        return dst._getvalue()

    return arr(arr), codegen
