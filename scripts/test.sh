#!/usr/bin/env bash
# Set everything up, then run every check and test: lint, types, TypeScript unit tests, pytest,
# and the end-to-end tests in a real JupyterLab with headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check python tests bench
.venv/bin/ruff format --check python tests bench

echo "== tsc --noEmit"
npx tsc --noEmit

echo "== TypeScript unit tests"
node --import tsx --test tests/ts/*.test.ts

echo "== pytest"
.venv/bin/python -m pytest tests/python -q

echo "== end-to-end (JupyterLab + headless Chromium)"
node --import tsx --test --test-concurrency=1 tests/e2e/*.test.ts
