#!/bin/sh
# promtool for the tests (deploy/check.py): Debian's prometheus package, downloaded and unpacked
# into .tools/prometheus/ — nothing installed, no Prometheus service started.
set -eu
cd "$(dirname "$0")/../.."
rm -rf .tools/prometheus .tools/deb
mkdir -p .tools/deb
cd .tools/deb
# apt-get download needs the package lists; fetch them once when they are missing.
apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }
dpkg -x prometheus_*.deb ../prometheus
cd .. && rm -rf deb
prometheus/usr/bin/promtool --version | head -1
