#!/usr/bin/env bash
# Set up only what the quick start needs (skipping what is current), then open its notebook in
# JupyterLab: in a browser when there is one, and its URL printed either way.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
ROOT_FLAG=""
if [ "$(id -u)" = 0 ]; then ROOT_FLAG="--allow-root"; fi
PORT=${SENTRYCAM_DEMO_PORT:-$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
TOKEN=$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')
NOTEBOOK=examples/quickstart.ipynb
URL="http://127.0.0.1:$PORT/lab/tree/$NOTEBOOK?token=$TOKEN"
.venv/bin/jupyter lab $ROOT_FLAG --ServerApp.ip=127.0.0.1 --ServerApp.port="$PORT" \
  --ServerApp.port_retries=0 --IdentityProvider.token="$TOKEN" --ServerApp.root_dir="$PWD" \
  --ServerApp.default_url="/lab/tree/$NOTEBOOK" "$@" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' INT TERM
# Ready once the server serves the notebook itself.
until .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/api/contents/$NOTEBOOK?content=0&token=$TOKEN', timeout=1)" 2>/dev/null; do
  kill -0 $SERVER 2>/dev/null || { wait $SERVER; exit $?; }
  sleep 0.5
done
echo
echo "== sentrycam quick start: $URL"
echo
wait $SERVER
