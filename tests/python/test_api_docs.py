"""help() is useful and the type stub is complete: every public name of lowdim has a docstring
beyond its signature, and lowdim/_lowdim.pyi (generated at build time) declares every one."""
import ast
import inspect
import os
import re
import unittest

import lowdim
import lowdim._lowdim as ext
import lowdim.sklearn


def public_names():
    """(qualified name, object) for every public function, class, method and property."""
    for name, value in sorted(vars(ext).items()):
        if name.startswith("_"):
            continue
        yield name, value
        if inspect.isclass(value) and not issubclass(value, BaseException):
            for attr, member in sorted(vars(value).items()):
                if attr.startswith("_") and attr != "__init__":
                    continue
                if attr == "__init__" and "Initialize self" in (member.__doc__ or ""):
                    continue  # not constructible from Python: created by fit/load
                yield f"{name}.{attr}", member


def prose(doc, name):
    """The docstring without pybind11's signature lines."""
    short = name.split(".")[-1]
    lines = [l for l in (doc or "").strip().split("\n")
             if not re.sub(r"^\d+\. ", "", l.strip()).startswith(short + "(")
             and not l.strip().startswith("(self") and l.strip() != "Overloaded function."]
    return "\n".join(lines).strip()


class ApiDocs(unittest.TestCase):
    def test_every_public_name_is_documented(self):
        missing = [n for n, v in public_names()
                   if len(prose(getattr(v, "__doc__", ""), n)) < 8]
        self.assertEqual(missing, [], "names whose help() says nothing beyond the signature")

    def test_stub_declares_every_name(self):
        path = os.path.join(os.path.dirname(ext.__file__), "_lowdim.pyi")
        with open(path) as f:
            tree = ast.parse(f.read())
        declared = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                declared.add(node.name)
            if isinstance(node, ast.ClassDef):
                for member in node.body:
                    if isinstance(member, ast.FunctionDef):
                        declared.add(f"{node.name}.{member.name}")
        missing = [n for n, _ in public_names() if n not in declared]
        self.assertEqual(missing, [], "bound names the stub does not declare")
        self.assertTrue(os.path.exists(os.path.join(os.path.dirname(path), "py.typed")))

    def test_package_reexports_the_extension(self):
        for name, _ in public_names():
            if "." not in name:
                self.assertTrue(hasattr(lowdim, name), name)

    def test_estimators_are_documented(self):
        for name in ["RandomProjection", "PCA", "Whitening", "BertWhitening", "RandomizedSVD", "RandomFeatures"]:
            cls = getattr(lowdim.sklearn, name)
            self.assertGreater(len(inspect.getdoc(cls) or ""), 40, name)
            for method in ["fit", "transform"]:
                if hasattr(cls, method):
                    self.assertTrue(inspect.getdoc(getattr(cls, method)), f"{name}.{method}")


class GuidesLinkToTheReference(unittest.TestCase):
    """Every guide in docs/ links to the Doxygen page of a public header (make docs writes
    build-docs/html/; a file page is named as Doxygen names it, e.g. random__features_8hpp.html)."""

    def test_every_guide_links_to_existing_header_pages(self):
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        docs = os.path.join(root, "docs")
        guides = sorted(f for f in os.listdir(docs) if f.endswith(".md"))
        self.assertGreater(len(guides), 5)
        for guide in guides:
            with self.subTest(guide=guide), open(os.path.join(docs, guide)) as f:
                text = f.read()
                links = re.findall(r"\[`lowdim/([\w/]+\.h(?:pp)?)`\]\(\.\./build-docs/html/(\w+\.html)\)", text)
                self.assertTrue(links, f"{guide} names no header page of the API reference")
                self.assertIn("(../build-docs/html/index.html)", text)
                for header, page in links:
                    self.assertTrue(os.path.exists(os.path.join(root, "include", "lowdim", header)), header)
                    name = os.path.basename(header)
                    self.assertEqual(page, name.replace("_", "__").replace(".", "_8") + ".html", (guide, header))


if __name__ == "__main__":
    unittest.main()
