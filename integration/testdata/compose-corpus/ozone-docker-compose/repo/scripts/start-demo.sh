#!/usr/bin/env bash
set -e

export DEMO=true
echo "$INFO Setting DEMO=true..."
echo "→ DEMO=$DEMO"

source start.sh
