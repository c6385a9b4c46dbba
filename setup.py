"""pip install . / pip install -e .  (the C++ kernels are built by CMake when a compiler is present).

The C++ extension (kernels._cpu, from kernels/cpu/*.cpp via CMakeLists.txt) is optional: when CMake or a
compiler is missing, the build fails, or MINIGRAD_NO_EXTENSION=1 is set, setup prints one warning and
installs the pure-Python package, whose kernels then run on the NumPy reference backend.
`pip install .` puts the module in the wheel; `pip install -e .` builds it in place, into kernels/.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    """An extension CMake builds (setuptools only learns its name)."""

    def __init__(self, name):
        super().__init__(name, sources=[])


class BuildCMake(build_ext):
    """Configure and build CMakeLists.txt; on any failure warn once and carry on without the extension."""

    def run(self):
        self._built = []
        for ext in self.extensions:
            start = time.time()
            try:
                self._build(ext)
            except Exception as err:          # noqa: BLE001 - any failure means "install without it"
                self._target(ext).unlink(missing_ok=True)     # an older build must not pass for this one
                print(f"\nWARNING: minigrad's C++ kernels were not built ({err}).\n"
                      "         minigrad is installed without them and uses the NumPy reference kernels.\n",
                      file=sys.stderr)
            else:
                print(f"minigrad: built {ext.name} with CMake in {time.time() - start:.0f} s", file=sys.stderr)

    def _target(self, ext):
        """Where the module goes: into the source tree for `pip install -e .`, else into build_lib."""
        if self.inplace or getattr(self, "editable_mode", False):
            return ROOT / self.get_ext_filename(ext.name)
        return Path(self.get_ext_fullpath(ext.name)).resolve()

    def _build(self, ext):
        if os.environ.get("MINIGRAD_NO_EXTENSION", "").strip() not in ("", "0"):
            raise RuntimeError("MINIGRAD_NO_EXTENSION is set")
        cmake = _find_cmake()
        target = self._target(ext)
        build_dir = Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        configure = [cmake, "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                     f"-DPython_EXECUTABLE={sys.executable}", f"-DMINIGRAD_KERNELS_OUTPUT_DIR={target.parent}"]
        try:
            import pybind11
            configure.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except ImportError:
            pass                              # CMakeLists.txt asks `python -m pybind11` and fails clearly
        if shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        jobs = str(max(1, os.cpu_count() or 1))
        for step, command in (("configure", configure), ("build", [cmake, "--build", str(build_dir), "-j", jobs])):
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if result.returncode != 0:
                print(result.stdout[-4000:], file=sys.stderr)
                raise RuntimeError(f"the CMake {step} step failed; its output is above")
        if not target.exists():
            raise RuntimeError(f"CMake finished but {target} is missing")
        self._built.append(str(target))

    def get_outputs(self):
        return list(getattr(self, "_built", []))


def _find_cmake():
    """The cmake on PATH, else the one from the `cmake` package on PyPI (pyproject.toml asks for it)."""
    try:
        import cmake
        found = Path(cmake.CMAKE_BIN_DIR) / "cmake"
        if found.exists():
            return str(found)
    except ImportError:
        pass
    found = shutil.which("cmake")
    if not found:
        raise RuntimeError("cmake was not found")
    return found


setup(
    name="minigrad",
    version="0.1.0",
    description="A small reverse-mode autodiff tensor library with hand-written kernels, and a gallery of GANs",
    packages=find_packages(include=["minigrad", "minigrad.*", "kernels", "kernels.*", "gans", "gans.*"]),
    ext_modules=[CMakeExtension("kernels._cpu")],
    cmdclass={"build_ext": BuildCMake},
    python_requires=">=3.9",
    # numpy is the engine; scipy hands the C++ kernels the BLAS numpy already uses; the rest draw the
    # gallery's outputs (PNG grids, GIFs, progress bars, loss plots).
    install_requires=["numpy>=1.23", "scipy", "pillow", "imageio", "tqdm", "matplotlib"],
    extras_require={
        # safetensors: minigrad.save_safetensors / load_safetensors (weights PyTorch reads). Optional, as it
        # is a compiled (Rust) wheel that not every platform has; the test extra includes it so CI tests it.
        "test": ["pytest>=7", "hypothesis>=6", "h5py", "safetensors"],
        "safetensors": ["safetensors"],
        "style": ["h5py", "scikit-image"],      # Keras VGG19 weights, and the --demo images
    },
)
