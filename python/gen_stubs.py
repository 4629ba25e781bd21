"""Writes the type stub of the extension lowdim._lowdim from the signatures pybind11 records.

Run at build time on the module just built (python/CMakeLists.txt), so the stub always lists
exactly what is bound: `python3 gen_stubs.py PACKAGE_PARENT_DIR OUT.pyi`. Every name gets its
docstring (without the signature lines) in the stub, for editors that show it.
"""
import ast
import importlib
import inspect
import re
import sys

MODULE = "lowdim._lowdim"
HEADER = '''"""Type stub of lowdim._lowdim, generated at build time by python/gen_stubs.py."""
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy
import numpy.typing

'''


def clean_type(text):
    text = text.replace(MODULE + ".", "")
    text = re.sub(r"numpy\.ndarray\[[^\]]*\]", "numpy.ndarray", text)
    return text


def signature_lines(doc, name):
    """The signature lines pybind11 put in doc for name, and the prose that follows them."""
    lines = (doc or "").strip().split("\n")
    sigs, prose = [], []
    for line in lines:
        stripped = re.sub(r"^\d+\. ", "", line.strip())
        if stripped.startswith(name + "("):
            sigs.append(stripped)
        elif line.strip() != "Overloaded function.":
            prose.append(line)
    return sigs, "\n".join(prose).strip()


def def_from_signature(sig, name, indent, decorators, doc):
    """A stub `def` from one pybind11 signature line; defaults become `...`."""
    text = clean_type(sig)
    text = re.sub(r"=\s*<[^>]*>", "= ...", text)
    source = f"def {text}: ...\n"
    try:
        tree = ast.parse(source)
    except SyntaxError:
        source = f"def {name}(*args: Any, **kwargs: Any) -> Any: ...\n"
        tree = ast.parse(source)
    fn = tree.body[0]
    for arg_defaults in (fn.args.defaults, fn.args.kw_defaults):
        for i, default in enumerate(arg_defaults):
            if default is not None:
                arg_defaults[i] = ast.Constant(value=Ellipsis)
    if fn.args.args and fn.args.args[0].arg == "self":
        fn.args.args[0].annotation = None
    if doc:
        fn.body = [ast.Expr(ast.Constant(doc))]
    out = [indent + d for d in decorators]
    body = ast.unparse(fn).split("\n")
    out += [indent + line for line in body]
    return out


def function_stub(obj, name, indent="", decorators=()):
    sigs, prose = signature_lines(obj.__doc__, name)
    if not sigs:
        sigs = [f"{name}(*args: Any, **kwargs: Any) -> Any"]
    decorators = list(decorators)
    if len(sigs) > 1:
        decorators = decorators + ["@typing.overload"]
    out = []
    for sig in sigs:
        out += def_from_signature(sig, name, indent, decorators, prose)
    return out


def class_stub(cls):
    bases = [b.__name__ for b in cls.__bases__ if b.__module__ in ("builtins", MODULE) and b is not object]
    out = [f"class {cls.__name__}{'(' + ', '.join(bases) + ')' if bases else ''}:"]
    if cls.__doc__ and not issubclass(cls, BaseException):
        out.append(f"    {ast.unparse(ast.Constant(cls.__doc__.strip()))}")
    body = []
    for attr, value in sorted(vars(cls).items()):
        if attr.startswith("_") and attr != "__init__":
            continue
        if isinstance(value, property):
            sigs, prose = signature_lines(value.fget.__doc__, "") if value.fget else ([], "")
            ret = "Any"
            match = re.search(r"->\s*(.+)$", (value.fget.__doc__ or "").split("\n")[0]) if value.fget else None
            if match:
                ret = clean_type(match.group(1).strip())
            body.append("    @property")
            line = f"    def {attr}(self) -> {ret}:"
            doc = (value.__doc__ or "").strip()
            doc = "\n".join(l for l in doc.split("\n") if not l.startswith("(self"))
            body.append(line + (f" {ast.unparse(ast.Constant(doc.strip()))}" if doc.strip() else " ..."))
        elif isinstance(value, staticmethod) or type(value).__name__ == "builtin_function_or_method":
            body += function_stub(getattr(cls, attr), attr, "    ", ["@staticmethod"])
        elif callable(value):
            if attr == "__init__" and "Initialize self" in (value.__doc__ or ""):
                continue
            body += function_stub(value, attr, "    ")
    out += body or ["    ..."]
    return out


def main():
    sys.path.insert(0, sys.argv[1])
    module = importlib.import_module(MODULE)
    lines = [HEADER.replace("from typing", "import typing\nfrom typing")]
    for name, value in sorted(vars(module).items()):
        if name.startswith("__"):
            continue
        if inspect.isclass(value):
            lines += class_stub(value) + [""]
        elif callable(value):
            lines += function_stub(value, name) + [""]
        else:
            lines.append(f"{name}: {type(value).__name__}")
    text = "\n".join(lines) + "\n"
    ast.parse(text)  # the stub must be valid Python
    with open(sys.argv[2], "w") as out:
        out.write(text)


if __name__ == "__main__":
    main()
