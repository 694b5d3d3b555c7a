#!/usr/bin/env bash
# Make sure the services the tests use are installed and, where the tests use the system's, running.
#   scripts/services.sh            everything
#   scripts/services.sh mosquitto  just one of: mosquitto postgres influxdb nats compose browser fonts promtool rtl433
# The tests start their own private Mosquitto, InfluxDB and NATS cluster processes (own ports and config); PostgreSQL is
# the system server, started here when it is not running. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
apt_updated=0

apt_install() {
    if [ $apt_updated -eq 0 ]; then $SUDO apt-get update -q; apt_updated=1; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

mosquitto_ready() {
    if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
        echo "installing mosquitto"; apt_install mosquitto mosquitto-clients
    fi
}

nats_ready() {
    # Debian's nats-server: the clustered MQTT broker (JetStream) of tests/ha and bench/ingest.py --broker.
    if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
        echo "installing nats-server"; apt_install nats-server
    fi
}

postgres_ready() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        echo "installing postgresql"; apt_install postgresql
    fi
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        echo "starting postgresql"
        $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
        for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    fi
    pg_isready -h 127.0.0.1 -p 5432
}

compose_ready() {
    # Debian's docker-compose (v1) validates deploy/docker-compose.yml offline; no Docker engine is needed.
    if ! command -v docker-compose >/dev/null 2>&1; then
        echo "installing docker-compose"; apt_install docker-compose
    fi
}

browser_ready() {
    # Debian's Chromium for the Playwright browser tests (Playwright's own browser downloads are not used).
    if [ ! -x /usr/bin/chromium ]; then
        echo "installing chromium"; apt_install chromium
    fi
    fonts_ready
}

fonts_ready() {
    # A CJK font (WenQuanYi Zen Hei), so that screenshots and the PDFs (hub/care/pdf.py) show Chinese, not boxes.
    if [ ! -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; then
        echo "installing fonts-wqy-zenhei"; apt_install fonts-wqy-zenhei fontconfig
    fi
}

promtool_ready() {
    # promtool (from Debian's prometheus) unit-tests deploy/monitoring's alert rules, the dead-man's switch.
    if ! command -v promtool >/dev/null 2>&1; then
        echo "installing prometheus (for promtool)"; apt_install prometheus
    fi
}

rtl433_ready() {
    # rtl_433 decodes 433 MHz remotes; the device tests run the real binary on synthesized signal files.
    if ! command -v rtl_433 >/dev/null 2>&1; then
        echo "installing rtl-433"; apt_install rtl-433
    fi
}

influxdb_ready() {
    bash "$here/influxdb.sh"
}

targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(mosquitto postgres influxdb nats compose browser fonts promtool rtl433)
for t in "${targets[@]}"; do
    case "$t" in
        mosquitto) mosquitto_ready ;;
        nats) nats_ready ;;
        postgres) postgres_ready ;;
        influxdb) influxdb_ready ;;
        compose) compose_ready ;;
        browser) browser_ready ;;
        fonts) fonts_ready ;;
        promtool) promtool_ready ;;
        rtl433) rtl433_ready ;;
        *) echo "unknown service $t" >&2; exit 2 ;;
    esac
done
