"""An empty distribution named `opencv-python` that requires `opencv-python-headless` of the same
version: it tells pip that the `cv2` module a package asks for under the GUI wheel's name is there,
provided by the headless wheel vigil uses. See README.md beside this file."""

import os
import re

from setuptools import setup

version = os.environ.get("OPENCV_VERSION", "")
if not re.fullmatch(r"\d+(\.\d+)+", version):
    raise SystemExit(
        "set OPENCV_VERSION to the installed opencv-python-headless version "
        "(python -c \"import importlib.metadata as m; print(m.version('opencv-python-headless'))\")"
    )

setup(
    name="opencv-python",
    version=version,
    description="Alias: cv2 is provided by opencv-python-headless (installed by vigil's Makefile)",
    install_requires=[f"opencv-python-headless=={version}"],
    py_modules=[],
    packages=[],
)
