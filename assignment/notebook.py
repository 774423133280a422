"""Set-up shared by every notebook: plots, autoreload, and a note on where the data comes from."""

import importlib
import sys
import types


def _enable_autoreload(ipython):
    """%autoreload 2, so edits to assignment/*.py show up without restarting the kernel.

    IPython 7 (Colab's) imports the `imp` module that Python 3.12 removed; a small stand-in
    with the one function autoreload uses keeps it working there.
    """
    try:
        ipython.run_line_magic("load_ext", "autoreload")
    except ModuleNotFoundError as e:
        if e.name != "imp":
            raise
        sys.modules["imp"] = types.SimpleNamespace(reload=importlib.reload)
        ipython.run_line_magic("load_ext", "autoreload")
    ipython.run_line_magic("autoreload", "2")


def setup_notebook():
    """Plot defaults of the course (10x8 figures, nearest interpolation, gray colormap) and
    autoreload when running under IPython."""
    import matplotlib.pyplot as plt

    plt.rcParams["figure.figsize"] = (10.0, 8.0)
    plt.rcParams["image.interpolation"] = "nearest"
    plt.rcParams["image.cmap"] = "gray"
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ipython = get_ipython()
    if ipython is not None:
        _enable_autoreload(ipython)
