"""pip install . / pip install -e .  (the C++ kernels are built by CMake when a compiler is present).

The C++ extension (kernels._cpu, from kernels/cpu/*.cpp via CMakeLists.txt) is optional: when CMake or a
compiler is missing, the build fails, or MINIGRAD_NO_EXTENSION=1 is set, setup prints one warning and
installs the pure-Python package, whose kernels then run on the NumPy reference backend.
`pip install -e .` builds it in place, into kernels/. `pip install .` puts it in the wheel and also
leaves a copy in the source tree's kernels/: run from the clone's root, Python imports the clone's
kernels/ folder (the current folder comes first on sys.path), not the installed one, and that folder
must find its C++ kernels too.

The package shares its import name `kernels` with another PyPI distribution (Hugging Face's kernel
loader); installing one over the other would replace files of the other, so setup refuses to install
into an environment that already has it (see _refuse_foreign_kernels).
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
        _refuse_foreign_kernels()
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
        self._copy_into_source_tree(ext, target)

    def _copy_into_source_tree(self, ext, built):
        """`pip install .` from a clone: put a copy of the module beside the clone's kernels/__init__.py too."""
        in_tree = ROOT / self.get_ext_filename(ext.name)
        if in_tree.resolve() == built or not in_tree.parent.is_dir():
            return
        try:
            tmp = in_tree.with_name(in_tree.name + ".tmp")
            shutil.copyfile(built, tmp)
            os.replace(tmp, in_tree)          # atomic: a running process keeps its mapped copy
        except OSError as err:                # a read-only source tree: only runs from it lose the C++ kernels
            print(f"minigrad: could not copy {built.name} into {in_tree.parent} ({err})", file=sys.stderr)

    def get_outputs(self):
        return list(getattr(self, "_built", []))


def _refuse_foreign_kernels():
    """Stop when the target environment has another distribution that installs a top-level `kernels`.

    pip builds in an isolated environment, so ask the interpreter it installs for (-I: without the build
    environment's PYTHONPATH) whether a `kernels` distribution other than minigrad is installed there.
    """
    probe = ("import importlib.metadata as m\n"
             "try:\n    d = m.distribution('kernels')\nexcept m.PackageNotFoundError:\n    pass\n"
             "else:\n    print(d.version, d.locate_file(''))")
    try:
        found = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True,
                               timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return
    if found:
        version, where = found.split(" ", 1)
        raise SystemExit(f"error: this environment has the `kernels` distribution {version} (in {where}), which "
                         "also installs a top-level package named `kernels`; installing minigrad would "
                         "overwrite its files. Install minigrad into a virtual environment of its own "
                         "(python3 -m venv .venv && . .venv/bin/activate).")


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
    # files the commands open at run time: the FD classifier's weights
    package_data={"gans": ["assets/*.ckpt"]},
    ext_modules=[CMakeExtension("kernels._cpu")],
    cmdclass={"build_ext": BuildCMake},
    python_requires=">=3.9",
    # numpy is the engine; scipy hands the C++ kernels the BLAS numpy already uses; the rest draw the
    # gallery's outputs (PNG grids, GIFs, progress bars, loss plots).
    install_requires=["numpy>=1.23", "scipy", "pillow", "imageio", "tqdm", "matplotlib"],
    extras_require={
        # everything the tests import: the style, safetensors and distributed extras included
        "test": ["pytest>=7", "hypothesis>=6", "h5py", "scikit-image", "safetensors", "mpi4py>=4", "mpich"],
        # safetensors: minigrad.save_safetensors / load_safetensors (weights PyTorch reads). Optional, as it
        # is a compiled (Rust) wheel that not every platform has.
        "safetensors": ["safetensors"],
        "style": ["h5py", "scikit-image"],      # Keras VGG19 weights, and the --demo images
        # --distributed and minigrad.distributed: mpi4py over MPICH's PyPI wheel, which brings mpiexec
        # (a system MPI works too: pip install mpi4py alone)
        "distributed": ["mpi4py>=4", "mpich"],
    },
)
