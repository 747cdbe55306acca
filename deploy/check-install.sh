#!/usr/bin/env bash
# Check deploy/install.sh the way a hub runs it, in a fresh Debian 12 chroot made with debootstrap
# (minbase + systemd; Debian's mirror is the only network used). Installs dist/slmia-linux-x64.tar.gz (the
# chroot is the build machine's architecture; install.sh is the same file in both tarballs) and checks:
#   - user `slmia`: system account, home /var/lib/slmia, no login shell, member of `audio`;
#   - /opt/slmia/slmia runs as that user (--version, inspect-model on the shipped models);
#   - /var/lib/slmia owned by slmia, mode 0700; /etc/slmia/config.yaml present; /usr/local/bin/slmia link;
#   - the installed /etc/slmia/config.yaml validates (state under /var/lib/slmia, shipped model + bundle);
#   - the daemon starts as slmia from /opt/slmia, audits one real speaker dropped into its spool folder
#     (verdict read back with `slmia history`), and stops gracefully on SIGTERM (needs the default model
#     and attack bundle in the tarball, and ../shared/data for the audit; skipped with a message otherwise);
#   - /etc/systemd/system/slmia.service: `systemd-analyze verify` passes and the unit carries the hardening;
#   - a second run (upgrade) keeps the config, and --prefix rewrites the unit's paths;
#   - --uninstall --purge removes everything.
# Needs root (chroot, mount). The chroot is cached in build/dist/chroot-bookworm between local runs.
#
#   deploy/check-install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CHROOT=$ROOT/build/dist/chroot-bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
TARBALL=dist/slmia-linux-x64.tar.gz
fail() {
  echo "install-check: FAIL: $*" >&2
  exit 1
}
say() { echo "install-check: $*"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot)"
[ -f "$TARBALL" ] || fail "$TARBALL missing (make dist)"
command -v debootstrap >/dev/null || fail "debootstrap missing (apt-get install debootstrap)"
# Everything below runs in a private mount namespace (unshare), so mounts vanish with this script even when
# it is killed: nothing stays mounted inside build/ for a later `rm -rf build` to wander into.
if [ -z "${SLMIA_INSTALL_CHECK_NS:-}" ]; then
  if ! unshare --mount --propagation private true 2>/dev/null; then
    say "SKIP: this machine does not allow a private mount namespace (unshare --mount; needs CAP_SYS_ADMIN)"
    exit 0
  fi
  exec unshare --mount --propagation private env SLMIA_INSTALL_CHECK_NS=1 "$0" "$@"
fi

t0=$(date +%s)
if [ ! -x "$CHROOT/usr/bin/systemd-analyze" ]; then
  say "debootstrap bookworm (minbase + systemd) into $CHROOT"
  rm -rf "$CHROOT.tmp"
  debootstrap --variant=minbase --include=systemd bookworm "$CHROOT.tmp" "$MIRROR" >"$ROOT/build/dist/debootstrap.log" 2>&1 || {
    tail -20 "$ROOT/build/dist/debootstrap.log" >&2
    fail "debootstrap failed"
  }
  rm -rf "$CHROOT" && mv "$CHROOT.tmp" "$CHROOT"
fi
say "chroot ready ($(($(date +%s) - t0)) s)"

# Only a fresh proc is mounted (Node reads /proc/self/exe); debootstrap made the /dev nodes.
mount -t proc proc "$CHROOT/proc"
in_chroot() { chroot "$CHROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

# A clean slate (the chroot may be cached from an earlier run).
in_chroot sh -c 'rm -rf /tmp/slmia-linux-x64 /opt/slmia /opt/slmia-alt /etc/slmia /var/lib/slmia \
  /etc/systemd/system/slmia.service /usr/local/bin/slmia; if getent passwd slmia >/dev/null; then userdel slmia; fi'
tar -xzf "$TARBALL" -C "$CHROOT/tmp"

say "install.sh (fresh install)"
in_chroot /tmp/slmia-linux-x64/install.sh | sed 's/^/  /'

# --- user and files ---
IFS=: read -r _ _ uid _ _ home shell <<<"$(in_chroot getent passwd slmia)" || fail "user slmia missing"
[ "$uid" -lt 1000 ] || fail "slmia uid $uid is not a system uid"
[ "$home" = /var/lib/slmia ] || fail "slmia home is $home, expected /var/lib/slmia"
case $shell in */nologin | */false) ;; *) fail "slmia has login shell $shell" ;; esac
in_chroot id -nG slmia | tr ' ' '\n' | grep -qx audio || fail "slmia is not in the audio group"
[ "$(in_chroot stat -c '%U:%G %a' /var/lib/slmia)" = "slmia:slmia 700" ] ||
  fail "/var/lib/slmia is $(in_chroot stat -c '%U:%G %a' /var/lib/slmia), expected slmia:slmia 700"
[ "$(in_chroot stat -c '%U' /opt/slmia/slmia)" = root ] || fail "/opt/slmia/slmia is not owned by root"
in_chroot test -f /etc/slmia/config.yaml || fail "/etc/slmia/config.yaml missing"
[ "$(in_chroot readlink /usr/local/bin/slmia)" = /opt/slmia/slmia ] || fail "/usr/local/bin/slmia does not link to /opt/slmia/slmia"
version=$(in_chroot setpriv --reuid=slmia --regid=slmia --init-groups /usr/local/bin/slmia --version)
[ "$version" = "$(node -p "require('./package.json').version")" ] || fail "slmia --version as user slmia: $version"
for m in "$CHROOT"/opt/slmia/models/*/model.json; do
  in_chroot setpriv --reuid=slmia --regid=slmia --init-groups /opt/slmia/slmia inspect-model "${m#"$CHROOT"}" >/dev/null ||
    fail "inspect-model ${m#"$CHROOT"} as user slmia"
done
say "user slmia (uid $uid, home $home, shell $shell, groups: $(in_chroot id -nG slmia)); files and ownership ok"

# --- the installed config validates and points at the state folder and the shipped models ---
as_slmia() { in_chroot setpriv --reuid=slmia --regid=slmia --init-groups "$@"; }
as_slmia /usr/local/bin/slmia daemon --config /etc/slmia/config.yaml --print-config >"$CHROOT/tmp/config.json" ||
  fail "/etc/slmia/config.yaml does not validate"
node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const bad = [];
  if (c.data_dir !== "/var/lib/slmia") bad.push(`data_dir ${c.data_dir}`);
  if (!c.spool.dir.startsWith("/var/lib/slmia/")) bad.push(`spool.dir ${c.spool.dir}`);
  if (!c.model.startsWith("/opt/slmia/models/")) bad.push(`model ${c.model}`);
  if (!c.attack.startsWith("/opt/slmia/models/")) bad.push(`attack ${c.attack}`);
  if (bad.length) { console.error(bad.join("; ")); process.exit(1); }
  console.log(`install-check: config ok: data_dir ${c.data_dir}, model ${c.model}, attack ${c.attack}`);
  process.stdout.write(`${c.model}\n${c.attack}\n`, () => {});
' "$CHROOT/tmp/config.json" >"$ROOT/build/dist/config-check.txt" || fail "installed config"
head -1 "$ROOT/build/dist/config-check.txt"
model=$(sed -n 2p "$ROOT/build/dist/config-check.txt")
attack=$(sed -n 3p "$ROOT/build/dist/config-check.txt")

# --- the daemon starts as the service would (user slmia, cwd /var/lib/slmia), writes its database, stops on
# SIGTERM. The embedded broker gets a free port so the check never collides with a broker on 1883.
if in_chroot test -f "$model" && in_chroot test -f "$attack"; then
  sed 's/^mqtt:$/mqtt:\n  embedded:\n    port: 0/' "$CHROOT/etc/slmia/config.yaml" >"$CHROOT/tmp/check-config.yaml"
  chmod 644 "$CHROOT/tmp/check-config.yaml"
  log=$ROOT/build/dist/daemon-check.log
  # A plain command (not a shell function) in the background, exec'ing all the way down: $! is the daemon.
  chroot "$CHROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c 'cd /var/lib/slmia &&
    exec setpriv --reuid=slmia --regid=slmia --init-groups /opt/slmia/slmia daemon --config /tmp/check-config.yaml' \
    >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 240); do
    grep -q '"msg":"daemon started"' "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  grep -q '"msg":"daemon started"' "$log" || {
    tail -20 "$log" >&2
    kill "$pid" 2>/dev/null || true
    fail "daemon did not start as user slmia"
  }
  # One real audit through the installed service's spool (when the speech data is here): the files are
  # read and the verdict stored by user slmia under /var/lib/slmia.
  spk_dir=${SLMIA_DATA_DIR:-$ROOT/../shared/data}/speechocean762/audio/SPEAKER0005
  if [ -d "$spk_dir" ]; then
    spool=$CHROOT/var/lib/slmia/spool
    mkdir -p "$spool/SPEAKER0005"
    cp "$spk_dir"/* "$spool/SPEAKER0005/"
    in_chroot chown -R slmia:slmia /var/lib/slmia/spool
    # The marker appears whole and already owned by slmia: the daemon claims the folder the moment it sees it.
    echo '{"transaction":"install-check-1"}' >"$spool/SPEAKER0005/.ready.tmp"
    in_chroot chown slmia:slmia /var/lib/slmia/spool/SPEAKER0005/.ready.tmp
    mv "$spool/SPEAKER0005/.ready.tmp" "$spool/SPEAKER0005/.ready"
    for _ in $(seq 1 240); do
      as_slmia /opt/slmia/slmia history --db /var/lib/slmia/slmia.db --json --transaction install-check-1 \
        >"$ROOT/build/dist/history-check.json" 2>/dev/null && [ -s "$ROOT/build/dist/history-check.json" ] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    [ -s "$ROOT/build/dist/history-check.json" ] || {
      tail -20 "$log" >&2
      kill -KILL "$pid" 2>/dev/null || true
      fail "no audit stored for the spooled speaker"
    }
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]);
      console.log(`install-check: spool audit by the installed daemon: ${r.speaker} ${r.status} ${r.verdict ?? ""} p=${r.probability ?? "-"}`);
      if (r.status !== "ok") process.exit(1);
    ' "$ROOT/build/dist/history-check.json" || fail "spool audit did not succeed"
    in_chroot test ! -e /var/lib/slmia/spool/SPEAKER0005 || fail "spool folder not consumed"
  else
    say "SKIP spool audit: no speech data at $spk_dir"
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    fail "daemon still running 30 s after SIGTERM"
  fi
  wait "$pid" || fail "daemon exited with $? on SIGTERM"
  grep -q '"msg":"stopped"' "$log" || fail "daemon did not log a graceful stop"
  [ "$(in_chroot stat -c %U /var/lib/slmia/slmia.db)" = slmia ] || fail "/var/lib/slmia/slmia.db missing or not owned by slmia"
  say "daemon started as slmia from /opt/slmia, wrote /var/lib/slmia/slmia.db, stopped on SIGTERM"
else
  say "SKIP daemon start: the tarball has no default model/attack bundle yet ($model, $attack)"
fi

# --- the unit ---
unit=/etc/systemd/system/slmia.service
in_chroot systemd-analyze verify "$unit" 2>&1 | tee "$ROOT/build/dist/systemd-analyze.log" | sed 's/^/  /'
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "systemd-analyze verify $unit"
# Warnings about the unit itself fail the check too (verify exits 0 on some of them).
if grep -i 'slmia.service' "$ROOT/build/dist/systemd-analyze.log" | grep -qiv 'not found.*\.target'; then
  fail "systemd-analyze verify reported problems with slmia.service"
fi
for line in User=slmia SupplementaryGroups=audio Restart=on-failure ProtectSystem=strict \
  ReadWritePaths=/var/lib/slmia NoNewPrivileges=true PrivateTmp=true ProtectHome=true \
  DevicePolicy=closed 'DeviceAllow=char-alsa rw' StateDirectoryMode=0700 UMask=0077 \
  'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' SystemCallFilter=@system-service SystemCallErrorNumber=EPERM \
  'ExecStart=/opt/slmia/slmia daemon --config /etc/slmia/config.yaml'; do
  in_chroot grep -qx "$line" "$unit" || fail "$unit lacks $line"
done
say "systemd-analyze verify $unit: ok; hardening directives present"

# --- upgrade keeps config; --prefix rewrites paths ---
echo '# edited by the operator' >>"$CHROOT/etc/slmia/config.yaml"
in_chroot /tmp/slmia-linux-x64/install.sh --prefix /opt/slmia-alt >/dev/null
in_chroot grep -q 'edited by the operator' /etc/slmia/config.yaml || fail "upgrade overwrote /etc/slmia/config.yaml"
in_chroot grep -qx 'ExecStart=/opt/slmia-alt/slmia daemon --config /etc/slmia/config.yaml' "$unit" ||
  fail "--prefix did not rewrite ExecStart"
in_chroot systemd-analyze verify "$unit" >/dev/null 2>&1 || fail "systemd-analyze verify after --prefix"
[ "$(in_chroot /usr/local/bin/slmia --version)" = "$version" ] || fail "slmia from /opt/slmia-alt"
say "re-install with --prefix /opt/slmia-alt: config kept, unit rewritten and valid"

# --- uninstall ---
in_chroot /opt/slmia-alt/install.sh --uninstall --prefix /opt/slmia-alt --purge >/dev/null
for p in /opt/slmia-alt /etc/systemd/system/slmia.service /usr/local/bin/slmia /var/lib/slmia /etc/slmia; do
  in_chroot test ! -e "$p" || fail "--uninstall --purge left $p"
done
in_chroot getent passwd slmia >/dev/null && fail "--uninstall --purge left user slmia"
# Leave the cached chroot with a plain install for the next run's inspection.
rm -rf "$CHROOT/tmp/slmia-linux-x64" "$CHROOT/opt/slmia"
say "uninstall --purge: clean. All install checks passed ($(($(date +%s) - t0)) s)"
