#!/usr/bin/env bash
# Install roadside-edge as a systemd service on a Raspberry Pi OS / Debian / Ubuntu / JetPack unit.
# Run as root from a checkout: sudo systemd/install.sh [SITE.yaml]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
site=${1:-}
prefix=/opt/roadside-edge

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
apt-get install -y -qq python3-venv >/dev/null
id roadside >/dev/null 2>&1 || useradd --system --home-dir /var/lib/roadside-edge --shell /usr/sbin/nologin roadside

mkdir -p "$prefix" /etc/roadside-edge/credentials
chmod 0700 /etc/roadside-edge/credentials
cp -a "$src"/. "$prefix"/
python3 -m venv "$prefix/.venv"
"$prefix/.venv/bin/pip" install -q "$prefix[vision]"
"$prefix/scripts/install-models.sh" "$prefix/.venv"

if [ -n "$site" ]; then install -m 0644 "$site" /etc/roadside-edge/site.yaml; fi
[ -f /etc/roadside-edge/site.yaml ] || { echo "install.sh: put the site configuration at /etc/roadside-edge/site.yaml" >&2; }

key=/etc/roadside-edge/credentials/signing-key
if [ ! -f "$key" ]; then
    "$prefix/.venv/bin/edge" keygen --out /etc/roadside-edge/keys
    install -m 0600 /etc/roadside-edge/keys/signing-key.pem "$key"
    echo "install.sh: new signing key; give /etc/roadside-edge/keys/keys.jwks to the back office"
fi
[ -f /etc/roadside-edge/credentials/mqtt-password ] || install -m 0600 /dev/null /etc/roadside-edge/credentials/mqtt-password

install -m 0644 "$prefix/systemd/roadside-edge.service" /etc/systemd/system/roadside-edge.service
systemctl daemon-reload
"$prefix/.venv/bin/edge" check-config /etc/roadside-edge/site.yaml && systemctl enable --now roadside-edge.service
systemctl --no-pager status roadside-edge.service || true
