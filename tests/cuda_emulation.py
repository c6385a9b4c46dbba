"""The CUDA execution model, emulated on the CPU, for tests: a .cu file compiled by g++ under a shim.

A block is `blockDim` real threads with a barrier for __syncthreads, __shared__ memory is one per block,
blocks run one after another, arguments arrive as CuPy packs them (one pointer per argument). Used by
test_kernels_cuda.py (the launcher on NumPy arrays) and by fake_cupy.py (cupy.RawModule for the
device tests of minigrad). What only a GPU checks: NVRTC, CuPy's own calls, real parallel hardware.
"""
import ctypes
import os
import shutil
import subprocess

import numpy as np

CXX = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")

SHIM = r"""
#include <math.h>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

struct Dim3 { unsigned x = 0, y = 0, z = 0; };
static thread_local Dim3 threadIdx, blockIdx;
static Dim3 blockDim, gridDim;

struct Barrier {                          // __syncthreads: wait until all of the block's threads arrive
    std::mutex m;
    std::condition_variable cv;
    unsigned n = 0, waiting = 0, generation = 0;
    void wait() {
        std::unique_lock<std::mutex> lock(m);
        unsigned gen = generation;
        if (++waiting == n) { waiting = 0; ++generation; cv.notify_all(); }
        else cv.wait(lock, [&] { return gen != generation; });
    }
};
static Barrier block_barrier;
static void __syncthreads() { block_barrier.wait(); }

#define __global__
#define __device__
#define __host__
#define __shared__ static                 // one copy, shared by the threads of the (single) running block
#include KERNEL_SOURCE

template <typename... A, std::size_t... I>
static void call(void (*kernel)(A...), void** args, std::index_sequence<I...>) {
    kernel(*static_cast<typename std::remove_reference<A>::type*>(args[I])...);
}

// blockDim.x threads; each runs the kernel for block 0, 1, ..., grid - 1, with a barrier between blocks.
template <typename... A>
static void launch(void (*kernel)(A...), unsigned grid, unsigned block, void** args) {
    gridDim.x = grid; blockDim.x = block; gridDim.y = gridDim.z = blockDim.y = blockDim.z = 1;
    block_barrier.n = block;
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < block; ++t)
        threads.emplace_back([=] {
            threadIdx.x = t;
            for (unsigned b = 0; b < grid; ++b) {
                blockIdx.x = b;
                call(kernel, args, std::index_sequence_for<A...>{});
                __syncthreads();
            }
        });
    for (auto& thread : threads) thread.join();
}

static std::map<std::string, std::function<void(unsigned, unsigned, void**)>> registry;
#define REGISTER(name) \
    registry[#name "<float>"] = [](unsigned g, unsigned b, void** a) { launch(&name<float>, g, b, a); }; \
    registry[#name "<double>"] = [](unsigned g, unsigned b, void** a) { launch(&name<double>, g, b, a); };

extern "C" int emulate(const char* name, unsigned grid, unsigned block, void** args) {
    if (registry.empty()) { REGISTRATIONS }
    auto it = registry.find(name);
    if (it == registry.end()) return 1;
    it->second(grid, block, args);
    return 0;
}
"""


class EmulatedKernel:
    """A kernel called like cupy.RawKernel: kernel(grid, block, args), args CuPy-style (arrays, NumPy scalars)."""

    def __init__(self, lib, name):
        self.lib, self.name = lib, name

    def __call__(self, grid, block, args):
        assert len(grid) == 1 and len(block) == 1 and 1 <= block[0] <= 1024 and grid[0] >= 1
        keep, pointers = [], (ctypes.c_void_p * len(args))()
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray):                     # CuPy passes an array as its data pointer
                assert a.flags.c_contiguous, f"{self.name}: argument {i} is not C-contiguous"
                value = ctypes.c_void_p(a.ctypes.data)
                keep.append(value)
                pointers[i] = ctypes.addressof(value)
            elif isinstance(a, np.generic):                   # and a NumPy scalar as its bytes
                value = np.array(a)
                keep.append(value)
                pointers[i] = value.ctypes.data
            else:
                raise TypeError(f"{self.name}: argument {i} is a {type(a).__name__}; pass arrays or NumPy scalars")
        assert self.lib.emulate(self.name.encode(), grid[0], block[0], pointers) == 0, f"no kernel {self.name}"


class EmulatedModule:
    """Like cupy.RawModule after compilation: get_function("name<float>") for the kernels in `names`."""

    def __init__(self, lib, source, names):
        self.lib, self.source, self.names = lib, source, tuple(names)

    def get_function(self, name):
        assert name.split("<")[0] in self.names, f"{name} is not in {self.source}"
        return EmulatedKernel(self.lib, name)


def build(source_path, names, out_dir):
    """Compile the CUDA source at source_path as host C++ under SHIM, registering the float and double
    instances of each kernel template in `names`; an EmulatedModule (AssertionError with g++'s words if it fails)."""
    if CXX is None:
        raise RuntimeError("no C++ compiler to emulate the CUDA kernels with")
    stem = os.path.basename(source_path).split(".")[0]
    cpp, lib_path = os.path.join(out_dir, f"{stem}.cpp"), os.path.join(out_dir, f"{stem}.so")
    with open(cpp, "w") as f:
        f.write(SHIM.replace("REGISTRATIONS", " ".join(f"REGISTER({n})" for n in names)))
    run = subprocess.run([CXX, "-std=c++17", "-O1", "-shared", "-fPIC", "-pthread", "-w",
                          f'-DKERNEL_SOURCE="{source_path}"', cpp, "-o", lib_path], capture_output=True, text=True)
    assert run.returncode == 0, f"{source_path} does not compile as host C++ under the shim:\n{run.stderr}"
    lib = ctypes.CDLL(lib_path)
    lib.emulate.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint, ctypes.POINTER(ctypes.c_void_p)]
    return EmulatedModule(lib, os.path.basename(source_path), names)
