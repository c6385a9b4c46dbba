"""Parameter: a Tensor that a Module registers as something to learn."""
import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor with requires_grad=True that Module.__setattr__ records in `_parameters`.

    Args:
        data: a Tensor (its array is shared, not copied), a NumPy array or nested lists.
        requires_grad: False for a frozen parameter.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)
        if isinstance(data, Tensor):
            self._version = data._version                   # the same memory: one version counter

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
