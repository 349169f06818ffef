#!/usr/bin/env bash
# Build the JupyterLab extension (labextension/) into python/sentrycam/labextension, the folder
# the wheel installs as share/jupyter/labextensions/sentrycam-alerts. Needs the npm packages and a
# Python with jupyterlab (its core package list decides what the extension shares with the page).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CORE=$("$PY" -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))')
rm -rf labextension/lib python/sentrycam/labextension
npx tsc -p labextension/tsconfig.json
node node_modules/@jupyterlab/builder/lib/build-labextension.js --core-path "$CORE" labextension >/dev/null
cp labextension/install.json python/sentrycam/labextension/install.json
