"""Builds the Python package with CMake (see pyproject.toml): the extension lowdim._lowdim and
liblowdim.so.* next to it (the extension's RPATH has $ORIGIN), plus python/lowdim/*.py and the
type stubs. LOWDIM_CMAKE_ARGS adds CMake options; LOWDIM_BUILD_JOBS sets the parallel build."""
import glob
import os
import re
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(ROOT, "build-python"), exist_ok=True)  # setuptools' build and egg-info directory


def version():
    text = open(os.path.join(ROOT, "include", "lowdim", "version.hpp")).read()
    parts = [re.search(rf"#define LOWDIM_VERSION_{p} (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = os.path.abspath(os.path.join(self.build_temp, "cmake"))
        target = os.path.abspath(self.get_ext_fullpath(ext.name))
        jobs = os.environ.get("LOWDIM_BUILD_JOBS", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DLOWDIM_BUILD_TESTS=OFF",
                        "-DLOWDIM_BUILD_TOOLS=OFF", "-DLOWDIM_BUILD_PYTHON=ON", f"-DPython3_EXECUTABLE={sys.executable}"]
                       + os.environ.get("LOWDIM_CMAKE_ARGS", "").split(), check=True)
        subprocess.run(["cmake", "--build", build, "--target", "lowdim_python", "-j", jobs], check=True)
        built = glob.glob(os.path.join(build, "python", "lowdim", "_lowdim*.so"))
        if len(built) != 1:
            sys.exit(f"setup.py: expected one built extension under {build}/python/lowdim, found {built}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built[0], target)
        shutil.copyfile(os.path.join(os.path.dirname(built[0]), "_lowdim.pyi"),
                        os.path.join(os.path.dirname(target), "_lowdim.pyi"))
        # liblowdim by its SONAME (what the extension's DT_NEEDED names), found through $ORIGIN.
        sonames = [p for p in glob.glob(os.path.join(build, "liblowdim.so.*")) if re.search(r"\.so\.\d+\.\d+$", p)]
        if len(sonames) != 1:
            sys.exit(f"setup.py: expected liblowdim.so.MAJOR.MINOR in {build}, found {sonames}")
        shutil.copy2(os.path.realpath(sonames[0]), os.path.join(os.path.dirname(target), os.path.basename(sonames[0])))


setup(
    version=version(),
    packages=["lowdim"],
    package_dir={"lowdim": "python/lowdim"},
    package_data={"lowdim": ["*.pyi", "py.typed"]},
    ext_modules=[Extension("lowdim._lowdim", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
    # Out of the way of the CMake build directories (build/, build-*/ of the Makefile).
    options={"build": {"build_base": "build-python"}, "egg_info": {"egg_base": "build-python"}},
)
