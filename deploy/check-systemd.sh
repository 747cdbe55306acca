#!/usr/bin/env bash
# Run the installed service under a real systemd: boot a Debian 12 root (the install-check chroot, copied) with
# `systemd-nspawn --boot`, install dist/slmia-linux-x64.tar.gz with deploy/install.sh, and check that
#   - slmia.service is enabled and reaches `active (running)` as user slmia, with the unit's hardening in force
#     on the running process (no new privileges, seccomp filter, no capabilities, read-only /usr, private
#     /tmp, no home folders) and `systemd-analyze security` rating the unit;
#   - it audits: the demo member's 10 utterances dropped into its spool folder become a stored verdict
#     (`slmia history`), and the retained speaker state is on the embedded broker (`mosquitto_sub` in the
#     container's network namespace);
#   - `systemctl stop` stops it cleanly (SIGTERM: the daemon logs `stopped`, the unit ends with result
#     `success`), and the container powers off.
# The container gets its own network namespace (--private-network: loopback only), so its broker on
# 127.0.0.1:1883 never meets the host's. systemd-nspawn runs without machined/D-Bus on the host
# (--register=no --keep-unit). Needs root, systemd-container, debootstrap, mosquitto-clients.
# Report: build/dist/systemd-check/report.txt.
#
#   deploy/check-systemd.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BASE=$ROOT/build/dist/chroot-bookworm
CT=$ROOT/build/dist/chroot-bookworm-boot
WORK=$ROOT/build/dist/systemd-check
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
TARBALL=dist/slmia-linux-x64.tar.gz
fail() {
  echo "systemd-check: FAIL: $*" >&2
  [ -f "$WORK/console.log" ] && tail -30 "$WORK/console.log" >&2
  exit 1
}
say() { echo "systemd-check: $*" | tee -a "$WORK/report.txt"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, systemd-nspawn)"
[ -f "$TARBALL" ] || fail "$TARBALL missing (make dist)"
command -v systemd-nspawn >/dev/null || fail "systemd-nspawn missing (apt-get install systemd-container)"
command -v mosquitto_sub >/dev/null || fail "mosquitto_sub missing (apt-get install mosquitto-clients)"
if ! unshare --mount --pid --fork true 2>/dev/null; then
  echo "systemd-check: SKIP: this machine does not allow new mount/PID namespaces (systemd-nspawn needs CAP_SYS_ADMIN)"
  exit 0
fi
rm -rf "$WORK" && mkdir -p "$WORK"
t0=$(date +%s)

# --- the container root: a copy of the install-check chroot (Debian 12 minbase + systemd) ---
if [ ! -x "$BASE/usr/bin/systemd-analyze" ]; then
  command -v debootstrap >/dev/null || fail "debootstrap missing (apt-get install debootstrap)"
  say "debootstrap bookworm (minbase + systemd) into $BASE"
  rm -rf "$BASE.tmp"
  debootstrap --variant=minbase --include=systemd bookworm "$BASE.tmp" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    fail "debootstrap failed (log: $WORK/debootstrap.log)"
  mv "$BASE.tmp" "$BASE"
fi
rm -rf "$CT" && cp -a "$BASE" "$CT"
# No login prompt on the console: nothing reads it.
rm -f "$CT/etc/systemd/system/getty.target.wants/"* 2>/dev/null || true

# --- install as on a hub (no systemd running yet: install.sh enables the unit, the boot starts it) ---
tar -xzf "$TARBALL" -C "$CT/tmp"
chroot "$CT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /tmp/slmia-linux-x64/install.sh >"$WORK/install.log" 2>&1 ||
  fail "install.sh failed: $(tail -5 "$WORK/install.log")"
chroot "$CT" systemctl enable slmia.service >/dev/null 2>&1 || fail "systemctl enable slmia.service"
say "installed $(cat "$CT/opt/slmia/BUILD") and enabled slmia.service"

# --- boot ---
systemd-nspawn -D "$CT" --register=no --keep-unit --private-network --boot -q \
  >"$WORK/console.log" 2>&1 </dev/null &
nspawn=$!
cleanup() {
  if kill -0 "$nspawn" 2>/dev/null; then
    kill -TERM "$nspawn" 2>/dev/null || true
    sleep 3
    kill -KILL "$nspawn" 2>/dev/null || true
  fi
}
trap cleanup EXIT
pid1=
for _ in $(seq 1 100); do
  pid1=$(ps -o pid= --ppid "$nspawn" | head -1 | tr -d ' ' || true)
  [ -n "$pid1" ] && [ "$(cat "/proc/$pid1/comm" 2>/dev/null)" = systemd ] && break
  kill -0 "$nspawn" 2>/dev/null || fail "systemd-nspawn exited"
  sleep 0.2
done
[ -n "$pid1" ] || fail "no init process in the container"
# Run a command in the container (all its namespaces, its root).
in_ct() { nsenter -t "$pid1" -m -u -i -n -p -r -w /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
state=
for _ in $(seq 1 60); do
  state=$(in_ct systemctl is-system-running 2>/dev/null || true)
  case $state in running | degraded) break ;; esac
  sleep 1
done
say "container booted (systemd $(in_ct systemctl --version | head -1 | cut -d' ' -f2), state: $state, init pid $pid1 on the host)"
[ "$state" = degraded ] && in_ct systemctl --failed --no-legend | sed 's/^/  failed unit: /' | tee -a "$WORK/report.txt"

# --- active (running), hardening in force ---
for _ in $(seq 1 120); do
  in_ct systemctl is-active -q slmia.service && in_ct journalctl -u slmia -o cat | grep -q '"msg":"daemon started"' && break
  sleep 1
done
in_ct systemctl status slmia.service --no-pager -l >"$WORK/status-running.txt" 2>&1 || true
grep -q 'Active: active (running)' "$WORK/status-running.txt" || {
  cat "$WORK/status-running.txt" >&2
  fail "slmia.service is not active (running)"
}
sed -n '1,4p' "$WORK/status-running.txt" | sed 's/^/  /' | tee -a "$WORK/report.txt"
main=$(in_ct systemctl show -p MainPID --value slmia.service)
status=$(in_ct cat "/proc/$main/status")
field() { awk -v k="$1:" '$1 == k {print $2}' <<<"$status"; }
[ "$(field NoNewPrivs)" = 1 ] || fail "NoNewPrivs is $(field NoNewPrivs) on the daemon"
[ "$(field Seccomp)" = 2 ] || fail "no seccomp filter on the daemon (Seccomp: $(field Seccomp))"
[ "$(field CapEff)" = 0000000000000000 ] || fail "the daemon has capabilities $(field CapEff)"
[ "$(field CapBnd)" = 0000000000000000 ] || fail "the daemon's bounding set is $(field CapBnd)"
uid=$(field Uid)
[ "$(in_ct id -u slmia)" = "$uid" ] || fail "the daemon runs as uid $uid, not slmia"
mounts=$(in_ct cat "/proc/$main/mountinfo")
# In the daemon's mount namespace the OS is read-only (ProtectSystem=strict), even for root.
ro=$(in_ct nsenter -t "$main" -m touch /usr/.slmia-check 2>&1 || true)
case $ro in *"Read-only file system"*) ;; *) fail "/usr is writable for the daemon (ProtectSystem=strict): $ro" ;; esac
awk '$5 == "/tmp" {found=1} END {exit !found}' <<<"$mounts" || fail "no private /tmp (PrivateTmp=true)"
awk '$5 == "/root" || $5 == "/home" {found=1} END {exit !found}' <<<"$mounts" ||
  fail "/root and /home are visible to the daemon (ProtectHome=true)"
say "hardening in force on pid $main: uid $uid (slmia), NoNewPrivs 1, Seccomp 2 (filter), CapEff/CapBnd 0, /usr read-only, private /tmp, no /home or /root"
in_ct systemd-analyze security slmia.service --no-pager >"$WORK/security.txt" 2>&1 || true
say "systemd-analyze security: $(grep -o 'Overall exposure level for slmia.service:.*' "$WORK/security.txt" | sed 's/\x1b\[[0-9;]*m//g')"

# --- it audits: spool folder → stored verdict → retained state on its broker ---
spk=$(awk -F'\t' 'NR > 1 && $3 == "target-member" {print $2; exit}' "$ROOT/demo/speechocean762/splits/five-way.tsv")
spool=$CT/var/lib/slmia/spool
mkdir -p "$spool/$spk.tmp"
cp "$ROOT/demo/speechocean762/audio/$spk"/*.flac "$spool/$spk.tmp/"
in_ct chown -R slmia:slmia "/var/lib/slmia/spool/$spk.tmp"
mv "$spool/$spk.tmp" "$spool/$spk"
# The marker appears whole and already owned by slmia: the service claims the folder the moment it sees it.
echo '{"transaction":"systemd-check-1"}' >"$spool/$spk/.ready.tmp"
in_ct chown slmia:slmia "/var/lib/slmia/spool/$spk/.ready.tmp"
mv "$spool/$spk/.ready.tmp" "$spool/$spk/.ready"
hist=
for _ in $(seq 1 120); do
  hist=$(in_ct setpriv --reuid=slmia --regid=slmia --init-groups /opt/slmia/slmia history --db /var/lib/slmia/slmia.db \
    --json --transaction systemd-check-1 2>/dev/null || true)
  [ -n "$hist" ] && break
  sleep 1
done
[ -n "$hist" ] || fail "no audit stored for the spooled speaker"
node -e '
  const r = JSON.parse(process.argv[1].split("\n")[0]);
  console.log(`systemd-check: audit by the service: ${r.speaker} ${r.status} ${r.verdict ?? r.error} p=${r.probability ?? "-"} voices ${r.voices} queries ${r.queries}`);
  if (r.status !== "ok") process.exit(1);
' "$hist" | tee -a "$WORK/report.txt" || fail "the spooled audit failed"
state_msg=$(nsenter -t "$pid1" -n mosquitto_sub -h 127.0.0.1 -p 1883 -t "slmia/$spk" -C 1 -W 10 2>&1) ||
  fail "no retained state on slmia/$spk ($state_msg)"
say "retained on slmia/$spk: $(cut -c1-120 <<<"$state_msg")…"

# --- clean stop ---
in_ct systemctl stop slmia.service
in_ct systemctl show -p ActiveState,SubState,Result,ExecMainStatus,ExecMainCode slmia.service >"$WORK/stopped.txt"
grep -qx 'ActiveState=inactive' "$WORK/stopped.txt" || fail "after stop: $(tr '\n' ' ' <"$WORK/stopped.txt")"
grep -qx 'Result=success' "$WORK/stopped.txt" || fail "after stop: $(tr '\n' ' ' <"$WORK/stopped.txt")"
in_ct journalctl -u slmia -o cat --no-pager >"$WORK/journal.txt"
grep -q '"msg":"stopped"' "$WORK/journal.txt" || fail "the daemon did not log a graceful stop"
say "systemctl stop: $(tr '\n' ' ' <"$WORK/stopped.txt")(journal: $(grep -c . "$WORK/journal.txt") lines, last: $(grep -v '^$' "$WORK/journal.txt" | tail -1 | cut -c1-80))"

in_ct systemctl poweroff --no-block >/dev/null 2>&1 || true
for _ in $(seq 1 60); do
  kill -0 "$nspawn" 2>/dev/null || break
  sleep 0.5
done
kill -0 "$nspawn" 2>/dev/null && fail "the container did not power off"
trap - EXIT
say "container powered off. All systemd checks passed ($(($(date +%s) - t0)) s)"
