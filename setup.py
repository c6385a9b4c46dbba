"""pip install . / pip install -e .  (the C++ kernels are built by CMake when a compiler is present)."""
from setuptools import find_packages, setup

setup(
    name="minigrad",
    version="0.1.0",
    description="A small reverse-mode autodiff tensor library with hand-written kernels, and a gallery of GANs",
    packages=find_packages(include=["minigrad", "minigrad.*", "kernels", "kernels.*", "gans", "gans.*"]),
    python_requires=">=3.9",
    install_requires=["numpy>=1.23"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        "gans": ["pillow", "imageio", "tqdm", "matplotlib"],
    },
)
