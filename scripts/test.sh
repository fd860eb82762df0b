#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs it:
# ruff, mypy, and pytest (unit tests, and integration tests on the embedded
# broker and on Apache Kafka 4.x, with the real ClickHouse engine, Prometheus and
# Alertmanager; the Dockerfile, compose stack and Helm chart checks).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k dlq`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the report's browser test
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

# Apache Kafka broker jars for the integration tests (Maven Central).
mkdir -p .cache/kafka-libs
if ! ls .cache/kafka-libs/kafka_2.13-*.jar >/dev/null 2>&1; then
  mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory="$PWD/.cache/kafka-libs"
fi
export KAFKA_TEST_LIBS="$PWD/.cache/kafka-libs"

# docker-compose, helm and k8scheck for the deployment checks, built from the Go module
# proxy into .cache/bin: in the background at low priority while the suite runs (a clean
# build takes minutes); the deployment tests wait while the process named in
# .cache/bin/.building runs, and
# fail with the build's log if a tool is missing.
mkdir -p .cache/bin
( echo "$BASHPID" > .cache/bin/.building
  nice -n 19 bash scripts/deploy-tools.sh > .cache/deploy-tools.out 2>&1 \
    || echo "scripts/deploy-tools.sh failed: the deployment tests will fail" >> .cache/deploy-tools.out
  rm -f .cache/bin/.building ) &

# Files the tests keep for people to look at (the report's browser screenshot).
export TEST_ARTIFACTS_DIR="${TEST_ARTIFACTS_DIR:-$PWD/tests/artifacts}"

.venv/bin/ruff check src tests bench
.venv/bin/mypy
# Two test processes (TEST_PROCESSES to change it), each test file in one process, so a
# file's fixtures start once; each process starts its own brokers on free ports.
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 \
  -n "${TEST_PROCESSES:-2}" --dist loadfile "$@"
