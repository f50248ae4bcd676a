#!/usr/bin/env bash
# Install the dev requirements and run the whole test suite.
# DATABASE_URL and REDIS_URL default to this machine's PostgreSQL and Redis; the
# services must be running (.ci/run starts them). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
.venv/bin/python -m pytest "$@"
