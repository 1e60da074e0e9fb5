#!/bin/sh
# Install vigil from the source tree $2 into a new virtualenv $1 with the extras $3 (comma-separated)
# and the requirements $4 (space-separated), as the image (packaging/Containerfile) and the Debian
# package (packaging/deb/build.sh) do. $5: the torch requirement installed first when an extra needs torch (a bare `torch` can pull a
# CUDA build of several GB). pip's CA bundle: the build secret /run/secrets/pipca when given.
set -eu
venv=$1 src=$2 extras=$3 packages=$4 torch=${5:-torch}
[ -f /run/secrets/pipca ] && export PIP_CERT=/run/secrets/pipca
python3 -m venv "$venv"
pip="$venv/bin/python -m pip --quiet --disable-pip-version-check --no-cache-dir"
$pip install --upgrade pip setuptools wheel
case ",$extras," in *,torch,*|*,hf,*) $pip install "$torch" ;; esac
# trackers (the tracking extra) and rapidocr ask for opencv-python, the GUI wheel: the alias says
# that opencv-python-headless, which vigil uses, provides it (packaging/opencv-alias/README.md).
$pip install "$src"
version=$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('opencv-python-headless'))")
OPENCV_VERSION=$version $pip install "$src/packaging/opencv-alias"
[ -z "$extras" ] || $pip install "$src[$extras]"
# shellcheck disable=SC2086 # one requirement per word
[ -z "$packages" ] || $pip install $packages
"$venv/bin/python" -m pip check
