#!/usr/bin/env bash
# Install InfluxDB 1.x (Debian's `influxdb` package) when `influxd` is missing. Idempotent.
#
# The tests start their own private influxd (tests/services/influxdb.py), so the system service that
# the package would start is kept from starting (policy-rc.d) and from grabbing port 8086.
set -euo pipefail

if command -v influxd >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi

# A policy-rc.d that answers 101 ("action forbidden") stops invoke-rc.d from starting the service during
# the install; we only add it when none exists, and remove only the one we added.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    ADDED_POLICY=1
fi
cleanup() {
    if [ "$ADDED_POLICY" -eq 1 ]; then
        $SUDO rm -f "$POLICY"
    fi
}
trap cleanup EXIT

$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends influxdb

command -v influxd >/dev/null 2>&1 || { echo "influxd still missing after install" >&2; exit 1; }
