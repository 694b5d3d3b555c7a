#!/usr/bin/env bash
# Back up the register (SQLite or PostgreSQL) and the time series (SQLite file, or InfluxDB 1.x portable
# backup) into a new dated folder, and drop folders older than KEEP_DAYS.
#   HUB_CONFIG=/etc/eldercare/hub.toml BACKUP_ROOT=/var/backups/eldercare scripts/backup.sh
# Restore (into EMPTY databases: a new SQLite path / a freshly created PostgreSQL database / an InfluxDB
# without the database), with the hub stopped:
#   eldercare-hub --config /etc/eldercare/hub.toml restore /var/backups/eldercare/<stamp>
# InfluxDB backup and restore speak to influxd's RPC address (INFLUX_RPC, default 127.0.0.1:8088), so
# run this where that port is reachable (on the InfluxDB host, or inside its container). See docs/deploy.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hub=${HUB_BIN:-"$here/../.venv/bin/eldercare-hub"}
command -v "$hub" >/dev/null 2>&1 || hub=eldercare-hub
root=${BACKUP_ROOT:?set BACKUP_ROOT to the folder that keeps the backups}
keep=${KEEP_DAYS:-30}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dest="$root/$stamp"
config_args=(); [ -n "${HUB_CONFIG:-}" ] && config_args=(--config "$HUB_CONFIG")

mkdir -p "$root"
"$hub" "${config_args[@]}" backup "$dest" --influx-rpc "${INFLUX_RPC:-127.0.0.1:8088}"
# Only complete backups (with manifest.json) count; keep the newest KEEP_DAYS days of them.
find "$root" -mindepth 1 -maxdepth 1 -type d -mtime "+$keep" -exec rm -rf {} +
echo "backup: $dest"
