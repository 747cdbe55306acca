#!/usr/bin/env bash
# Build the release tarballs dist/slmia-linux-<arch>.tar.gz (arch: x64, arm64) on an x86-64 Debian machine,
# using only the npm registry (official Node binaries as npm packages) and Debian apt (cross compiler).
# How and why: deploy/README.md ("How the release is built").
#
#   deploy/build-dist.sh [arch...]        default: x64 arm64 (or $SLMIA_DIST_ARCHES)
#
# Work files go to build/dist/ (git-ignored; re-runs reuse the downloaded Node packages and the arm64 sqlite3
# build); the tarballs go to dist/ under names that do not collide with `make build` (dist/cli.js ...).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Official Node.js binaries, as published on the npm registry (the version matches the SEA blob format and
# the Node 20 the project targets); integrity = the registry's sha512 of each package tarball.
NODE_VERSION=20.20.2
declare -A NODE_INTEGRITY=(
  [x64]='sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ=='
  [arm64]='sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg=='
)
SEA_FUSE=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
MAX_TARBALL_BYTES=$((120 * 1000 * 1000))

WORK=$ROOT/build/dist
OUT=$ROOT/dist
read -r -a ARCHES <<<"${*:-${SLMIA_DIST_ARCHES:-x64 arm64}}"
mkdir -p "$WORK/cache" "$OUT"

log() { printf '[dist %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
elf_machine() { readelf -h "$1" | sed -n 's/^ *Machine: *//p'; }
die() {
  printf 'dist: %s\n' "$*" >&2
  exit 1
}

[ "$(uname -m)" = x86_64 ] || die "build host must be x86_64 (it runs the x64 Node to make the SEA blob)"

# --- 1. Node binaries from the npm registry --------------------------------------------------------------
# Prints the folder holding bin/node and include/node of node-linux-<arch>@NODE_VERSION.
node_dir() {
  local arch=$1 tgz="$WORK/cache/node-linux-$1-$NODE_VERSION.tgz" dir="$WORK/node-linux-$1-$NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    if [ ! -f "$tgz" ]; then
      log "fetching node-linux-$arch@$NODE_VERSION from the npm registry"
      (cd "$WORK/cache" && npm pack --silent "node-linux-$arch@$NODE_VERSION" >/dev/null)
    fi
    local got
    got=$(node -e "const c=require('crypto');process.stdout.write('sha512-'+c.createHash('sha512').update(require('fs').readFileSync(process.argv[1])).digest('base64'))" "$tgz")
    [ "$got" = "${NODE_INTEGRITY[$arch]}" ] || {
      rm -f "$tgz"
      die "integrity mismatch for $tgz: $got"
    }
    rm -rf "$dir" "$dir.tmp" && mkdir -p "$dir.tmp"
    tar -xzf "$tgz" -C "$dir.tmp" --strip-components=1
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

# --- 2. sqlite3 native addon -----------------------------------------------------------------------------
# Prints the path of node_sqlite3.node for <arch>. x64: the one `npm ci` built in node_modules (N-API, so
# independent of the Node version). arm64: cross-compiled against the arm64 Node package's headers (--nodedir:
# node-gyp would otherwise download headers from nodejs.org) with the cross compiler of Debian 11 (bullseye:
# gcc 10, glibc 2.31), run in a bullseye chroot made with debootstrap, so that the addon needs nothing newer
# than glibc 2.31 / GLIBCXX_3.4.28 (Debian 12's cross compiler links against glibc 2.36 and would raise the
# hub's glibc floor to 2.34). The chroot is cached in build/dist/chroot-bullseye-build.
GLIBC_FLOOR=2.31
BUILD_ROOT=$WORK/chroot-bullseye-build
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

bullseye_build_root() {
  [ -x "$BUILD_ROOT/usr/bin/aarch64-linux-gnu-g++" ] && return
  [ "$(id -u)" -eq 0 ] || die "building the arm64 sqlite3 addon needs root (debootstrap, chroot)"
  command -v debootstrap >/dev/null || die "debootstrap missing (apt-get install debootstrap)"
  log "debootstrap Debian 11 (bullseye) with its aarch64 cross compiler into $BUILD_ROOT (once, ~3 min)"
  rm -rf "$BUILD_ROOT.tmp"
  debootstrap --variant=minbase --include=g++-aarch64-linux-gnu,make,python3 bullseye "$BUILD_ROOT.tmp" \
    "$MIRROR" >"$WORK/debootstrap-bullseye-build.log" 2>&1 || {
    tail -20 "$WORK/debootstrap-bullseye-build.log" >&2
    die "debootstrap bullseye failed (log: $WORK/debootstrap-bullseye-build.log)"
  }
  rm -f "$BUILD_ROOT.tmp"/var/cache/apt/archives/*.deb
  mv "$BUILD_ROOT.tmp" "$BUILD_ROOT"
}

sqlite3_addon() {
  local arch=$1
  if [ "$arch" = x64 ]; then
    local f=$ROOT/node_modules/sqlite3/build/Release/node_sqlite3.node
    [ -f "$f" ] || die "$f missing: run npm ci (it builds sqlite3)"
    echo "$f"
    return
  fi
  local src=$WORK/sqlite3-$arch out
  out=$src/build/Release/node_sqlite3.node
  # Rebuilt when sqlite3 is upgraded or the toolchain changes (the stamp names it; round 1 used Debian 12's).
  local toolchain=debian11-aarch64-gcc10
  if [ ! -f "$out" ] || [ "$ROOT/node_modules/sqlite3/package.json" -nt "$out" ] ||
    [ "$(cat "$src/.toolchain" 2>/dev/null)" != "$toolchain" ]; then
    bullseye_build_root
    local nd host_nd
    nd=$(node_dir "$arch")
    host_nd=$(node_dir x64)
    log "cross-compiling sqlite3 for $arch in Debian 11 (aarch64-linux-gnu-gcc 10, glibc $GLIBC_FLOOR; headers of Node $NODE_VERSION)"
    rm -rf "$src" && mkdir -p "$src"
    # Copy the package without its host build; node-addon-api resolves from the repo's node_modules.
    (cd "$ROOT/node_modules/sqlite3" && tar --exclude=./build -cf - .) | tar -xf - -C "$src"
    # The build script runs in the chroot, where the project is bind-mounted at its own path (in a private mount
    # namespace: the mount goes away with the command); node-gyp runs on the x64 Node package's node (it needs
    # glibc 2.28).
    cat >"$BUILD_ROOT/tmp/build-sqlite3.sh" <<EOF
set -e
export PATH="$host_nd/bin:/usr/bin:/bin" HOME=/tmp
export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++
export AR=aarch64-linux-gnu-ar STRIP=aarch64-linux-gnu-strip
cd "$src"
node "$ROOT/node_modules/node-gyp/bin/node-gyp.js" rebuild --arch=arm64 --nodedir="$nd" --devdir=/tmp/node-gyp \\
  --jobs=2 --loglevel=warn
aarch64-linux-gnu-strip --strip-unneeded "$out"
EOF
    unshare --mount --propagation private sh -ec \
      'mkdir -p "$1$2"; mount --bind "$2" "$1$2"; exec chroot "$1" /usr/bin/env -i /bin/sh /tmp/build-sqlite3.sh' \
      sh "$BUILD_ROOT" "$ROOT" >"$WORK/sqlite3-$arch.log" 2>&1 || {
      tail -30 "$WORK/sqlite3-$arch.log" >&2
      die "sqlite3 cross-compile failed (log: $WORK/sqlite3-$arch.log)"
    }
    echo "$toolchain" >"$src/.toolchain"
  fi
  elf_machine "$out" | grep -q AArch64 || die "$out is not an aarch64 ELF"
  echo "$out"
}

# Highest versioned symbol of each kind a file needs (objdump -T), e.g. `GLIBC_2.28 GLIBCXX_3.4.22`.
needs() {
  objdump -T "$1" | grep -o '\b\(GLIBC\|GLIBCXX\|CXXABI\)_[0-9.]*' | sort -uV |
    awk -F_ '{v[$1]=$0} END {for (k in v) printf "%s ", v[k]}'
}
# Fail when an aarch64 file needs a glibc newer than the floor.
check_glibc_floor() {
  local f=$1 top
  top=$(objdump -T "$f" | grep -o '\bGLIBC_[0-9.]*' | sort -uV | tail -1)
  top=${top#GLIBC_}
  [ -z "$top" ] || [ "$(printf '%s\n%s\n' "$top" "$GLIBC_FLOOR" | sort -V | tail -1)" = "$GLIBC_FLOOR" ] ||
    die "$f needs glibc $top, above the arm64 floor $GLIBC_FLOOR"
}

for f in dist/frontend/fbank.wasm dist/audio/vad.wasm dist/audio/pcm.wasm; do
  [ -f "$ROOT/$f" ] || die "$f missing: run make build (or make dist)"
done

# --- 3. one CommonJS bundle + SEA blob (architecture independent: no snapshot, no code cache) -------------
log "bundling src/ with esbuild"
node deploy/bundle.mjs "$WORK/slmia.cjs" >&2
cat >"$WORK/sea-config.json" <<EOF
{
  "main": "$WORK/slmia.cjs",
  "output": "$WORK/sea-prep.blob",
  "disableExperimentalSEAWarning": true,
  "useSnapshot": false,
  "useCodeCache": false
}
EOF
HOST_NODE=$(node_dir x64)/bin/node
"$HOST_NODE" --experimental-sea-config "$WORK/sea-config.json" >&2

VERSION=$(node -p "require('./package.json').version")

# --- 4. per architecture: executable, addons, models, service files → tarball ---------------------------
for arch in "${ARCHES[@]}"; do
  case $arch in
    x64) ort_arch=x64 elf='X86-64' ;;
    arm64) ort_arch=arm64 elf='AArch64' ;;
    *) die "unknown arch $arch (x64|arm64)" ;;
  esac
  name=slmia-linux-$arch
  stage=$WORK/stage/$name
  rm -rf "$stage" && mkdir -p "$stage/lib" "$stage/systemd" "$stage/licenses"
  nd=$(node_dir "$arch")

  log "$name: injecting the SEA blob into node $NODE_VERSION ($arch)"
  cp "$nd/bin/node" "$stage/slmia"
  chmod u+w "$stage/slmia"
  "$ROOT/node_modules/.bin/postject" "$stage/slmia" NODE_SEA_BLOB "$WORK/sea-prep.blob" \
    --sentinel-fuse "$SEA_FUSE" >"$WORK/postject-$arch.log" 2>&1 || {
    cat "$WORK/postject-$arch.log" >&2
    die "postject failed for $arch"
  }
  chmod 755 "$stage/slmia"
  elf_machine "$stage/slmia" | grep -q "$elf" || die "$stage/slmia is not a $elf ELF"

  log "$name: native addons"
  ort=$ROOT/node_modules/onnxruntime-node/bin/napi-v6/linux/$ort_arch
  cp "$ort/onnxruntime_binding.node" "$ort"/libonnxruntime.so.* "$stage/lib/"
  cp "$(sqlite3_addon "$arch")" "$stage/lib/node_sqlite3.node"
  # WebAssembly of the VAD, the FFT and the project's loops around them (architecture independent;
  # src/audio/wasm.ts reads them from lib/).
  cp node_modules/@echogarden/fvad-wasm/fvad.wasm node_modules/@echogarden/pffft-wasm/dist/simd/pffft.wasm \
    "$ROOT/dist/frontend/fbank.wasm" "$ROOT/dist/audio/vad.wasm" "$ROOT/dist/audio/pcm.wasm" "$stage/lib/"

  # Every native file: the newest glibc / libstdc++ symbol versions it needs (objdump -T); arm64 must stay
  # within glibc $GLIBC_FLOOR (Debian 11, Ubuntu 20.04, Raspberry Pi OS bullseye, JetPack 5).
  for f in "$stage/slmia" "$stage"/lib/*; do
    head -c 4 "$f" | grep -q ELF || continue
    printf 'dist: %s needs %s\n' "${f#"$WORK/stage/"}" "$(needs "$f")"
    [ "$arch" = arm64 ] && check_glibc_floor "$f"
  done

  log "$name: models, service files, docs"
  # Runtime models: everything under models/ except the training lab, Python sources and shadow models that
  # no attack bundle queries (a bundle's `references` are models audits query next to the target, e.g. the
  # shadow of the target's architecture; other shadow models only calibrate bundles, in the lab).
  referenced=$(cd "$ROOT" && node -e '
    const fs = require("fs"), path = require("path");
    for (const d of fs.readdirSync("models/attack")) {
      const f = path.join("models/attack", d, "attack.json");
      if (!fs.existsSync(f)) continue;
      for (const r of JSON.parse(fs.readFileSync(f, "utf8")).references ?? [])
        console.log(path.relative(".", path.dirname(path.resolve(path.dirname(f), r.path))));
    }' | sort -u)
  (cd "$ROOT" && find models -type f \
    ! -path 'models/train/*' ! -name '*.py' ! -name '*.pyc' ! -path '*/__pycache__/*' -print0) |
    while IFS= read -r -d '' f; do
      dir=$(dirname "$f")
      if [ -f "$ROOT/$dir/model.json" ] && ! grep -qxF "$dir" <<<"$referenced" &&
        node -e "process.exit(require(process.argv[1]).role === 'shadow' ? 0 : 1)" "$ROOT/$dir/model.json"; then
        continue
      fi
      mkdir -p "$stage/$dir" && cp "$ROOT/$f" "$stage/$f"
    done
  node -e "const p=require('./package.json');process.stdout.write(JSON.stringify({name:p.name,version:p.version,description:p.description,license:p.license},null,2)+'\n')" \
    >"$stage/package.json"
  cp -r demo "$stage/demo"
  cp systemd/slmia.service "$stage/systemd/"
  cp deploy/install.sh "$stage/install.sh" && chmod 755 "$stage/install.sh"
  cp deploy/README.md "$stage/README.md"
  cp deploy/config.yaml "$stage/config.example.yaml"
  mkdir -p "$stage/mosquitto" && cp deploy/mosquitto/acl deploy/mosquitto/slmia.conf "$stage/mosquitto/"
  cp "$nd/LICENSE" "$stage/licenses/node.LICENSE"
  cp node_modules/sqlite3/LICENSE "$stage/licenses/sqlite3.LICENSE"
  [ -f node_modules/onnxruntime-node/LICENSE ] && cp node_modules/onnxruntime-node/LICENSE "$stage/licenses/onnxruntime.LICENSE"
  printf '%s %s linux-%s node-%s\n' slmia "$VERSION" "$arch" "$NODE_VERSION" >"$stage/BUILD"

  tarball=$OUT/$name.tar.gz
  log "$name: writing $tarball"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' -C "$WORK/stage" -cf - "$name" |
    gzip -6 -n >"$tarball.tmp"
  mv "$tarball.tmp" "$tarball"
  bytes=$(stat -c %s "$tarball")
  printf 'dist: %s %d bytes (%s MB); unpacked %s\n' "$tarball" "$bytes" \
    "$(awk "BEGIN{printf \"%.1f\", $bytes/1e6}")" "$(du -sh "$stage" | cut -f1)"
  [ "$bytes" -le "$MAX_TARBALL_BYTES" ] || die "$tarball is over the 120 MB budget"
done
