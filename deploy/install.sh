#!/bin/sh
# Install (or upgrade, or remove) slmia from an unpacked release tarball on Debian / Raspberry Pi OS /
# Ubuntu (arm64 or x86-64). Nothing is downloaded: everything needed is in the tarball.
#
#   sudo ./install.sh [--prefix DIR] [--no-start]     install or upgrade, enable and start the service
#   sudo ./install.sh --uninstall [--purge]           remove (--purge also deletes /var/lib/slmia, /etc/slmia)
#
# Layout: DIR (default /opt/slmia) holds the executable, lib/ (native addons), models/; /usr/local/bin/slmia
# links to it; /etc/slmia/config.yaml is the daemon's configuration (kept on upgrade); /var/lib/slmia is
# the state directory (SQLite database, spool) owned by the system user `slmia` (member of `audio`).
set -eu

PREFIX=/opt/slmia
START=1
MODE=install
PURGE=0
SERVICE_USER=slmia
STATE_DIR=/var/lib/slmia
CONF_DIR=/etc/slmia
UNIT_DIR=/etc/systemd/system
BIN_LINK=/usr/local/bin/slmia
SRC=$(cd "$(dirname "$0")" && pwd)

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
  echo "install.sh: $*" >&2
  exit 1
}
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
  case $1 in
    --prefix)
      [ $# -ge 2 ] || die "--prefix needs a directory"
      PREFIX=$2
      shift 2
      ;;
    --prefix=*)
      PREFIX=${1#--prefix=}
      shift
      ;;
    --no-start)
      START=0
      shift
      ;;
    --uninstall)
      MODE=uninstall
      shift
      ;;
    --purge)
      PURGE=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case $PREFIX in
  /*) ;;
  *) die "--prefix must be an absolute path, got $PREFIX" ;;
esac

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
# systemd is running (a normal boot) vs. a chroot/container build where only files are installed.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then HAVE_SYSTEMD=1; else HAVE_SYSTEMD=0; fi

if [ "$MODE" = uninstall ]; then
  if [ "$HAVE_SYSTEMD" = 1 ]; then
    systemctl disable --now slmia.service 2>/dev/null || true
  fi
  rm -f "$UNIT_DIR/slmia.service" "$BIN_LINK"
  if [ "$HAVE_SYSTEMD" = 1 ]; then systemctl daemon-reload; fi
  rm -rf "$PREFIX"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$STATE_DIR" "$CONF_DIR"
    if getent passwd "$SERVICE_USER" >/dev/null; then userdel "$SERVICE_USER"; fi
    say "removed slmia, its state, configuration and user"
  else
    say "removed slmia (kept $STATE_DIR, $CONF_DIR and user $SERVICE_USER; --purge removes them)"
  fi
  exit 0
fi

# --- checks ---------------------------------------------------------------------------------------------
for f in slmia lib models systemd/slmia.service package.json config.example.yaml; do
  [ -e "$SRC/$f" ] || die "$SRC/$f missing: run install.sh from an unpacked slmia-linux-<arch> tarball"
done
want_arch=$(sed -n 's/^slmia [^ ]* linux-\([a-z0-9]*\) .*/\1/p' "$SRC/BUILD" 2>/dev/null || true)
case $(uname -m) in
  aarch64 | arm64) host_arch=arm64 ;;
  x86_64 | amd64) host_arch=x64 ;;
  *) host_arch=$(uname -m) ;;
esac
if [ -n "$want_arch" ] && [ "$want_arch" != "$host_arch" ]; then
  die "this tarball is for linux-$want_arch but this machine is $(uname -m); use slmia-linux-$host_arch.tar.gz"
fi
command -v useradd >/dev/null 2>&1 || die "useradd missing (Debian package passwd)"
# The sqlite3 addon is built against Debian 12's glibc (see README.md, "Compatibility").
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc \([0-9]*\.[0-9]*\).*/\1/p')
if [ -n "$glibc" ]; then
  major=${glibc%%.*}
  minor=${glibc#*.}
  if [ "$major" -lt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -lt 34 ]; }; then
    die "glibc $glibc is too old: slmia needs glibc >= 2.34 (Debian 12 / Raspberry Pi OS bookworm, Ubuntu 22.04 / JetPack 6)"
  fi
fi

# --- user -----------------------------------------------------------------------------------------------
if ! getent passwd "$SERVICE_USER" >/dev/null; then
  nologin=/usr/sbin/nologin
  [ -x "$nologin" ] || nologin=/bin/false
  useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell "$nologin" \
    --comment "slmia speaker membership auditor" "$SERVICE_USER"
  say "created system user $SERVICE_USER"
fi
if getent group audio >/dev/null; then
  usermod -a -G audio "$SERVICE_USER"
else
  groupadd --system audio
  usermod -a -G audio "$SERVICE_USER"
fi

# --- files ----------------------------------------------------------------------------------------------
# Copy next to the target, then swap, so a failed copy never leaves a half-installed PREFIX.
mkdir -p "$(dirname "$PREFIX")"
staging="$PREFIX.new.$$"
rm -rf "$staging"
mkdir -p "$staging"
for f in slmia lib models package.json README.md BUILD licenses systemd mosquitto config.example.yaml; do
  if [ -e "$SRC/$f" ]; then cp -R "$SRC/$f" "$staging/"; fi
done
cp "$SRC/install.sh" "$staging/install.sh"
chown -R root:root "$staging"
chmod -R u=rwX,go=rX "$staging"
chmod 755 "$staging/slmia" "$staging/install.sh"
if [ -e "$PREFIX" ]; then
  rm -rf "$PREFIX.old"
  mv "$PREFIX" "$PREFIX.old"
fi
mv "$staging" "$PREFIX"
rm -rf "$PREFIX.old"
mkdir -p "$(dirname "$BIN_LINK")"
ln -sfn "$PREFIX/slmia" "$BIN_LINK"

install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR"
install -d -m 0755 "$CONF_DIR"
if [ ! -e "$CONF_DIR/config.yaml" ]; then
  install -m 0640 -o root -g "$SERVICE_USER" "$SRC/config.example.yaml" "$CONF_DIR/config.yaml"
  say "wrote $CONF_DIR/config.yaml (from config.example.yaml)"
fi

# The unit names /opt/slmia; rewrite it for another prefix.
sed "s#/opt/slmia#$PREFIX#g" "$SRC/systemd/slmia.service" >"$UNIT_DIR/slmia.service.tmp"
chmod 0644 "$UNIT_DIR/slmia.service.tmp"
mv "$UNIT_DIR/slmia.service.tmp" "$UNIT_DIR/slmia.service"
say "installed $UNIT_DIR/slmia.service"

# --- smoke test: the executable starts and finds its addons and models ------------------------------------
version=$("$PREFIX/slmia" --version) || die "$PREFIX/slmia --version failed"
say "slmia $version in $PREFIX"

if [ "$HAVE_SYSTEMD" = 1 ]; then
  systemctl daemon-reload
  if [ "$START" = 1 ]; then
    systemctl enable slmia.service
    systemctl restart slmia.service
    say "service enabled and (re)started: systemctl status slmia; journalctl -u slmia -f"
  else
    systemctl enable slmia.service
    say "service enabled, not started (--no-start): systemctl start slmia"
  fi
else
  say "systemd is not running here: unit installed, not enabled (run: systemctl enable --now slmia)"
fi
