#!/usr/bin/env bash
# Install the dev requirements and run the whole test suite.
# DATABASE_URL and REDIS_URL default to this machine's PostgreSQL and Redis;
# scripts/services.sh starts them when they are installed but stopped. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
bash scripts/services.sh
bash scripts/setup.sh --dev
.venv/bin/python -m pytest "$@"
