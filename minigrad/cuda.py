"""minigrad.cuda: is a GPU usable, how many, and waiting for it (like torch.cuda; CuPy does the work).

    minigrad.cuda.is_available()   True when CuPy imports, a driver answers and a device is there
    minigrad.cuda.why_not()        None, or one line saying which of the three is missing
    minigrad.cuda.device_count()   0 without CUDA
    minigrad.cuda.synchronize()    wait for the queued GPU work (time a step only after this)
"""
from . import device as _device


def is_available():
    return _device.cuda_is_available()


def why_not():
    return _device.cuda_problem()


def device_count():
    return _device.cuda_device_count()


def synchronize(device=None):
    _device.cuda_synchronize(device)


def manual_seed(seed):
    """Seeds every generator, host and devices (minigrad.manual_seed does the same)."""
    from . import random
    return random.manual_seed(seed)
