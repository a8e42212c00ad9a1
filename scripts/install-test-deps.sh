#!/usr/bin/env bash
# System packages the test suite uses: GStreamer's RTSP server (real RTSP on loopback) and
# PostgreSQL 15 (the SQL tests run against it as well as SQLite) and mosquitto (the MQTT sink's
# tests start their own broker on a free loopback port; openssl makes its TLS certificates),
# a CJK font (`recognize --save-vis` draws provinces in Chinese), iproute2 (`ip`: a test runs the
# default config's fixed bus port in a network namespace of its own), chromium and chromium-driver
# (the web console's browser test drives Debian's own build through selenium; PyPI's browsers
# download their own, which cannot install here) with fonts-noto-cjk for the page's Chinese plates.
# Idempotent; needs root.
set -euo pipefail
pkgs=(
  gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  postgresql
  mosquitto openssl
  fonts-wqy-microhei iproute2
  chromium chromium-driver fonts-noto-cjk
)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
