#!/usr/bin/env bash
# Build the JupyterLab extension (labextension/) into python/sentrycam/labextension, the folder
# the wheel installs as share/jupyter/labextensions/sentrycam-alerts. Needs the npm packages and a
# Python with jupyterlab (its core package list decides what the extension shares with the page).
set -euo pipefail
cd "$(dirname "$0")/.."
# The first Python that has jupyterlab: $PYTHON, the checkout's .venv, python3. Without one the
# extension is skipped with a note (`pip install ./python` builds it in its own build environment,
# which declares jupyterlab, as JupyterLab extensions do).
CORE=""
for PY in "${PYTHON:-}" .venv/bin/python python3; do
  [ -n "$PY" ] && command -v "$PY" >/dev/null 2>&1 || continue
  CORE=$("$PY" -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))' 2>/dev/null) && break
  CORE=""
done
if [ -z "$CORE" ]; then
  echo "sentrycam: no Python with jupyterlab here: the JupyterLab extension was not built" \
       "(pip install ./python builds it; so does this script once jupyterlab is installed)" >&2
  exit 0
fi
rm -rf labextension/lib python/sentrycam/labextension
npx tsc -p labextension/tsconfig.json
node node_modules/@jupyterlab/builder/lib/build-labextension.js --core-path "$CORE" labextension >/dev/null
cp labextension/install.json python/sentrycam/labextension/install.json
