#!/usr/bin/env bash
# The project's one test command: install, start what is missing, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/ensure-services.sh
if [ "${WITH_BROWSER:-1}" = "1" ] && [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium from Debian's packages for the browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed; browser tests will skip"
fi
export TEST_AMQP_URL=${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
# retryWrites=false: the test server (secantusdb) keeps every retryable write in a registry it re-sorts on
# each write once it holds 10,000, which slows it to a crawl over a test run. Real MongoDB needs no such care.
export TEST_MONGODB_URL=${TEST_MONGODB_URL:-mongodb://127.0.0.1:27017/?retryWrites=false}
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy .  # the services, the simulator, the tests and the benchmarks
echo "== pytest"; .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
