#!/bin/sh
# The consumer with 2 worker threads.
export PYTHONPATH=".:$PYTHONPATH"
exec ${HUEYD:-hueyd} run main.huey -w2
