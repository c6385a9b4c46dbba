"""The differentiable ops, one family per file. Tensor methods and nn.functional call these."""
from .elementwise import (add, sub, mul, div, neg, pow, exp, log, sqrt, tanh, sigmoid, abs,  # noqa: F401
                          clamp, maximum, minimum, eq, ne, lt, le, gt, ge)
from .reduce import sum, mean, var, std, max, min, logsumexp, argmax, argmin  # noqa: F401
from .shape import (reshape, expand, flatten, permute, transpose, squeeze, unsqueeze,  # noqa: F401
                    split, chunk, cat, stack, pad, cast, clone, to_device)
from .indexing import getitem, where  # noqa: F401
from .matmul import matmul  # noqa: F401
from .activation import relu  # noqa: F401
