#!/bin/sh
# The consumer, as huey's example starts it: 4 workers of WORKER_CLASS (first argument,
# default thread), huey's simple log format.
echo "HUEY CONSUMER"
echo "-------------"
echo "In another terminal, run 'python3 main.py'"
echo "Stop the consumer using Ctrl+C"
PYTHONPATH=".:$PYTHONPATH"
export PYTHONPATH
WORKER_CLASS=${1:-thread}
export WORKER_CLASS
exec ${HUEYD:-hueyd} run main.huey --workers=4 -k "$WORKER_CLASS" -S
