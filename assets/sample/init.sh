#!/bin/sh
# Nothing to install: tally is plain POSIX shell.
set -e
chmod +x ./tally 2>/dev/null || true
echo "tally is ready: ./tally --help"
