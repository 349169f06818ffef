#!/usr/bin/env bash
# Install what sentrycam needs on a fresh Debian machine and build what is not current.
#   bash scripts/setup.sh        everything the tests need: Chromium (browser tests), Node packages,
#                                a Python virtual environment (.venv) with CPU PyTorch and the dev
#                                tools, torchvision and timm (library models), the bundle and the
#                                JupyterLab extension.
#   bash scripts/setup.sh demo   only what the quick start needs: Node packages (to build the
#                                bundle), .venv with CPU PyTorch, scikit-learn and JupyterLab.
# Safe to run again: finished steps are skipped, and the bundle is rebuilt only when a source
# is newer than it.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-all}

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

if [ "$MODE" = all ] && [ ! -x /usr/bin/chromium ]; then
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
# Each install leaves a stamp; one newer than pyproject.toml that covers the mode is current
# (a full install covers the demo too).
if [ "$MODE" = demo ]; then
  EXTRA=demo STAMP=.venv/.sentrycam-demo
  COVERING=".venv/.sentrycam-demo .venv/.sentrycam-installed"
else
  EXTRA=dev STAMP=.venv/.sentrycam-installed COVERING=.venv/.sentrycam-installed
fi
current=""
for stamp in $COVERING; do
  [ -f "$stamp" ] && [ ! python/pyproject.toml -nt "$stamp" ] && current=yes
done
if [ -z "$current" ]; then
  echo "== pip install (torch CPU wheel, sentrycam[$EXTRA])"
  .venv/bin/python -m pip install -q --upgrade pip
  # torch pinned: 2.13.0 is the CPU wheel this machine has; a plain `torch` pulls a CUDA build.
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e "python[$EXTRA]"
  touch "$STAMP"
fi

# Library models for the tests and benchmarks (torchvision, timm), outside the environment: PyPI's
# torchvision for this CPU torch is a CUDA build whose import fails, and transformers breaks when
# it is installed beside it. Tests and benchmarks import them from here with the workaround of
# /work/shared/environment.md (tests/python/library_models.py, bench/lib_models.py).
LIBS=.venv/library-models
if [ "$MODE" = all ] && [ ! -f "$LIBS/.installed-0.28.0" ]; then
  echo "== torchvision and timm into $LIBS"
  .venv/bin/python -m pip install -q --target "$LIBS" --no-deps --upgrade \
    torchvision==0.28.0 timm==1.0.31 pillow==13.0.0
  touch "$LIBS/.installed-0.28.0"
fi

# The bundle and the JupyterLab extension (npm run build makes both), when a source is newer.
BUNDLE=python/sentrycam/static/widget.js
EXTENSION=python/sentrycam/labextension/package.json
SOURCES="src style labextension/src labextension/package.json labextension/tsconfig.json
  package.json package-lock.json tsconfig.json webpack.config.js python/sentrycam/contract"
stale() {  # $1 is missing, or a source is newer
  [ ! -f "$1" ] || [ -n "$(find $SOURCES -newer "$1" -print -quit 2>/dev/null)" ]
}
if stale "$BUNDLE" || stale "$EXTENSION"; then
  echo "== building the frontend bundle and the JupyterLab extension"
  npm run --silent build >/dev/null 2>&1 || npm run build
  touch "$BUNDLE"
else
  echo "== the bundle and the JupyterLab extension are current"
fi
ls -l "$BUNDLE" | awk '{printf "   widget.js: %.0f KB\n", $5/1024}'

# An editable install does not copy the wheel's shared data: link the built extension into the
# environment, where JupyterLab finds it (a wheel puts it there by itself).
mkdir -p .venv/share/jupyter/labextensions
rm -rf .venv/share/jupyter/labextensions/sentrycam-alerts
ln -s "$PWD/python/sentrycam/labextension" .venv/share/jupyter/labextensions/sentrycam-alerts
du -sk python/sentrycam/labextension | awk '{printf "   labextension: %d KB\n", $1}'
