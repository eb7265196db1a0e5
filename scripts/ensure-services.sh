#!/usr/bin/env bash
# Starts MongoDB and RabbitMQ when none answers at MONGODB_URL / AMQP_URL (host:port of each).
set -euo pipefail
cd "$(dirname "$0")/.."
MONGO_HOST=${MONGO_HOST:-127.0.0.1}
MONGO_PORT=${MONGO_PORT:-27017}
AMQP_PORT=${AMQP_PORT:-5672}
mkdir -p .run

answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

if ! answers "$MONGO_HOST" "$MONGO_PORT"; then
  echo "starting the MongoDB-compatible server (secantusdb) on $MONGO_HOST:$MONGO_PORT"
  storage=${MONGO_STORAGE:-.run/mongo-data}
  mkdir -p "$storage"
  nohup .mongo-venv/bin/secantusd-py --host "$MONGO_HOST" --port "$MONGO_PORT" --storage-path "$storage" \
    > .run/mongo.log 2>&1 &
  echo $! > .run/mongo.pid
  for _ in $(seq 1 60); do answers "$MONGO_HOST" "$MONGO_PORT" && break; sleep 0.5; done
  answers "$MONGO_HOST" "$MONGO_PORT" || { echo "MongoDB server did not start; see .run/mongo.log"; exit 1; }
fi

if ! answers 127.0.0.1 "$AMQP_PORT"; then
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "installing rabbitmq-server from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  echo "starting RabbitMQ"
  rabbitmq-server -detached
  for _ in $(seq 1 120); do answers 127.0.0.1 "$AMQP_PORT" && break; sleep 1; done
  answers 127.0.0.1 "$AMQP_PORT" || { echo "RabbitMQ did not start"; exit 1; }
  sleep 3
fi
