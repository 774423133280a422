"""Access to the code under test: the modules of one `assignment` package, by short name."""
import importlib
import sys
from types import SimpleNamespace

MODULES = {
    "layers": "layers",
    "layer_utils": "layer_utils",
    "fast_layers": "fast_layers",
    "optim": "optim",
    "fc_net": "classifiers.fc_net",
    "cnn": "classifiers.cnn",
    "pytorch_models": "pytorch_models",
    "net_visualization": "net_visualization",
}
# Modules that import torch: imported on first use, so that the numpy checks never wait for it.
LAZY = {"pytorch_models", "net_visualization"}


def load_api(package="assignment", reload=False):
    """A namespace whose attributes are the package's modules (api.layers, api.optim, ...).

    With reload=True the modules are read again from disk, so a self-check run in a notebook
    sees the student's latest edits even without autoreload. A module that fails to import
    becomes an object that raises the import error when used, so one broken file does not
    hide the results of the others.
    """
    api = {}
    for short, dotted in MODULES.items():
        name = f"{package}.{dotted}"
        if short in LAZY:
            api[short] = _Lazy(name, reload)
            continue
        try:
            module = importlib.import_module(name)
            if reload:
                module = importlib.reload(module)
            api[short] = module
        except Exception as e:  # noqa: BLE001 - reported by every check that uses the module
            api[short] = _Broken(name, e)
    if reload:
        # layer_utils and the models bind layer functions at import; reload them after layers.
        for short in ("layer_utils", "fc_net", "cnn"):
            if not isinstance(api[short], _Broken) and f"{package}.{MODULES[short]}" in sys.modules:
                api[short] = importlib.reload(api[short])
    return SimpleNamespace(**api)


class _Broken:
    def __init__(self, name, error):
        self._name, self._error = name, error

    def __getattr__(self, attr):
        raise ImportError(f"{self._name} could not be imported: {type(self._error).__name__}: {self._error}")


class _Lazy:
    """A module imported (or reloaded) on first attribute access; an import error is raised
    then, as _Broken raises it."""

    def __init__(self, name, reload):
        self._name, self._reload, self._module = name, reload, None

    def __getattr__(self, attr):
        if attr.startswith("_") and attr not in ("__file__", "__name__", "__package__"):
            raise AttributeError(attr)
        if self._module is None:
            try:
                module = importlib.import_module(self._name)
                self._module = importlib.reload(module) if self._reload else module
            except Exception as e:  # noqa: BLE001 - reported by every check that uses the module
                raise ImportError(f"{self._name} could not be imported: {type(e).__name__}: {e}") from None
        return getattr(self._module, attr)
