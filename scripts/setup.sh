#!/usr/bin/env bash
# Install everything sentrycam needs on a fresh Debian machine: Chromium (for the browser tests),
# Node packages, a Python virtual environment (.venv) with CPU PyTorch, and the frontend bundle.
# Safe to run again: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium"
  # Another process may hold apt's lock (an unattended upgrade, a second setup): wait for it.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
# The repo's package.json says "type": "module"; without this, Node would treat JavaScript that
# Python packages ship inside .venv (JupyterLab's bundled yarn) as ES modules and fail on it.
[ -f .venv/package.json ] || echo '{"type": "commonjs"}' > .venv/package.json
if ! .venv/bin/python -c "import sentrycam, torch, sklearn, jupyterlab, umap, lightning, transformers, accelerate, s3fs, moto, duckdb, marimo" 2>/dev/null \
   || [ python/pyproject.toml -nt .venv/.sentrycam-installed ]; then
  echo "== pip install (torch CPU wheel, sentrycam and its dev tools)"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch pinned: 2.13.0 is the CPU wheel this machine has; a plain `torch` pulls a CUDA build.
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e "python[dev]"
  touch .venv/.sentrycam-installed
fi

# Library models for the tests and benchmarks (torchvision, timm), outside the environment: PyPI's
# torchvision for this CPU torch is a CUDA build whose import fails, and transformers breaks when
# it is installed beside it. Tests and benchmarks import them from here with the workaround of
# /work/shared/environment.md (tests/python/library_models.py, bench/lib_models.py).
LIBS=.venv/library-models
if [ ! -f "$LIBS/.installed-0.28.0" ]; then
  echo "== torchvision and timm into $LIBS"
  .venv/bin/python -m pip install -q --target "$LIBS" --no-deps --upgrade \
    torchvision==0.28.0 timm==1.0.31 pillow==13.0.0
  touch "$LIBS/.installed-0.28.0"
fi

echo "== building the frontend bundle"
npm run --silent build >/dev/null
ls -l python/sentrycam/static/widget.js | awk '{printf "   widget.js: %.0f KB\n", $5/1024}'

# (npm run build builds the JupyterLab extension, sentrycam-alerts, too)
# An editable install does not copy the wheel's shared data: link the built extension into the
# environment, where JupyterLab finds it (a wheel puts it there by itself).
mkdir -p .venv/share/jupyter/labextensions
rm -rf .venv/share/jupyter/labextensions/sentrycam-alerts
ln -s "$PWD/python/sentrycam/labextension" .venv/share/jupyter/labextensions/sentrycam-alerts
du -sk python/sentrycam/labextension | awk '{printf "   labextension: %d KB\n", $1}'
