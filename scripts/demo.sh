#!/usr/bin/env bash
# Set everything up, then open the quick-start notebook in JupyterLab.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ROOT_FLAG=""
if [ "$(id -u)" = 0 ]; then ROOT_FLAG="--allow-root"; fi
exec .venv/bin/jupyter lab $ROOT_FLAG "$@" examples/quickstart.ipynb
