"""What `import torch` gives in parts 1-4 of the exam, which are numpy only.

Importing torch (even `import torch.nn.functional as F`) works, so that an import left over
from debugging, a type hint or an `isinstance(x, torch.Tensor)` test costs nothing. Computing
with it does not: calling anything reached through it, or using it in arithmetic, raises
TorchNotAllowed, and the check that ran into it fails with that message. The grader places
this package where torch would be found (the real torch is not even visible to that process);
the public checks do the same, so a student sees locally what the grader will decide.
"""
import importlib.abc
import importlib.machinery
import sys
import types


class TorchNotAllowed(RuntimeError):
    """torch was used in a numpy-only part of the exam."""


def _refuse(name: str):
    raise TorchNotAllowed(f"{name} was used, but parts 1-4 of the exam are numpy only: torch is "
                          f"not available to this module (write it with numpy)")


class _Unavailable(type):
    """The metaclass of every name reached through this package: a class that nothing is an
    instance of, whose use raises."""

    def __getattr__(cls, attribute):
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        return _unavailable(f"{_dotted(cls)}.{attribute}")

    def __call__(cls, *args, **kwargs):
        _refuse(_dotted(cls))

    def __bool__(cls):
        _refuse(_dotted(cls))


def _operator(name):
    def refuse(cls, *args):
        _refuse(_dotted(cls))
    refuse.__name__ = name
    return refuse


for _name in ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "matmul",
              "rmatmul", "pow", "rpow", "neg", "abs", "getitem", "iter", "len", "float", "int",
              "array", "lt", "le", "gt", "ge"):
    setattr(_Unavailable, f"__{_name}__", _operator(f"__{_name}__"))


def _dotted(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _unavailable(dotted: str) -> type:
    module, name = dotted.rsplit(".", 1)
    return _Unavailable(name, (), {"__qualname__": name, "__module__": module})


def _module_getattr(module_name):
    def __getattr__(attribute):
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        return _unavailable(f"{module_name}.{attribute}")
    return __getattr__


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`import torch.anything` gives a module of the same kind as this one."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("torch."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name, __doc__)
        module.__path__ = []
        module.__getattr__ = _module_getattr(spec.name)
        return module

    def exec_module(self, module):
        pass


__getattr__ = _module_getattr("torch")
__path__ = []
sys.meta_path.insert(0, _Finder())
