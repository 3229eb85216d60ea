from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
for line in (here / "npslim" / "__init__.py").read_text().splitlines():
    if line.startswith("__version__"):
        exec(line, version)

setup(
    name="npslim",
    version=version["__version__"],
    description="Recurrent cells from scratch in NumPy: LSTM and its variants with hand-derived, "
                "gradient-checked backward passes, on NumPy or CuPy",
    long_description=(here / "README.md").read_text(encoding="utf-8") if (here / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["npslim", "npslim.*"]),
    package_data={"npslim": ["data/*", "datasets/data/*"]},
    include_package_data=True,
    install_requires=[
        "numpy>=1.23",
        "scipy>=1.9",
        "matplotlib>=3.6",
        "tqdm>=4.60",
        "scikit-learn>=1.1",
        "distributed>=2023.1",          # npslim study: Dask execution (brings dask)
        "optuna>=3.4,<6",               # npslim study report: fANOVA (its _fanova forest; scikit-learn inside)
        "threadpoolctl>=3",             # one BLAS thread per trial on the study's workers
    ],
    extras_require={
        "gpu": ["cupy>=13"],
        # test_notebooks executes every tutorial (nbclient, ipykernel) and checks its jupytext pair
        "test": ["pytest>=7", "hypothesis>=6.100", "torch==2.13.0", "nbclient>=0.7", "nbformat>=5", "ipykernel>=6", "jupytext>=1.14"],
        # open, run and rebuild the notebooks; torch for notebook 02's comparison with nn.LSTM
        "tutorials": ["jupyter", "jupyterlab>=4", "jupytext>=1.14", "nbclient>=0.7", "nbformat>=5", "ipykernel>=6",
                      "matplotlib>=3.6", "torch>=2"],
    },
    entry_points={"console_scripts": ["npslim=npslim.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Intended Audience :: Education",
        "Intended Audience :: Science/Research",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
