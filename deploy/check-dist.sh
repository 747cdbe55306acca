#!/usr/bin/env bash
# Prove the release tarballs work: unpack dist/slmia-linux-{x64,arm64}.tar.gz, run the x64 executable
# natively and the arm64 one under qemu-user (qemu-aarch64-static) on the userland of a Debian 11 (bullseye)
# arm64 root, i.e. glibc 2.31 and libstdc++ of GCC 10 (the arm64 floor, deploy/README.md), and require the same
# answers:
#   1. `--version`                   equal to package.json's version;
#   2. `inspect-model --json`        on the default target model (and the fixture model): same manifest/IO;
#   3. `embed --json`                of one real speaker (fixture model): max |Δ| ≤ 1e-4;
#   4. `audit --json`                of one real speaker: same verdict, |Δ probability| ≤ 1e-3, and a
#                                    SQLite embedding cache written (the sqlite3 addon works)
#                                    (skipped, with a message, while the build has no `audit` command).
#   5. `daemon --demo` (x64)         microphone path: node-record-lpcm16 → fake `arecord` → verdict over MQTT.
#   2c. `daemon --demo`              the main job on the shipped demo set (no data needed): same verdicts.
# 3–5 need ../shared/data (SLMIA_DATA_DIR); they are skipped with a message when it is absent.
# Timings (wall seconds; arm64 ones are EMULATED on x86-64, not hub figures) go to build/dist/check/report.txt.
#
#   deploy/check-dist.sh [speaker]     default: SPEAKER0005 (speechocean762, a target-member of the split)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/build/dist/check
SPEAKER=${1:-${SLMIA_CHECK_SPEAKER:-SPEAKER0005}}
VERSION=$(node -p "require('./package.json').version")
fail() {
  echo "dist-check: FAIL: $*" >&2
  exit 1
}
say() { echo "dist-check: $*"; }

for arch in x64 arm64; do
  [ -f "dist/slmia-linux-$arch.tar.gz" ] || fail "dist/slmia-linux-$arch.tar.gz missing (make dist)"
done
command -v qemu-aarch64-static >/dev/null || fail "qemu-aarch64-static missing (apt-get install qemu-user-static)"

# The arm64 userland: Debian 11 (bullseye) arm64, first debootstrap stage (its packages unpacked; the second
# stage would need binfmt_misc), cached in build/dist/root-bullseye-arm64. Nothing of the host's is used:
# qemu resolves the guest's loader and libraries under -L.
ARM_ROOT=$ROOT/build/dist/root-bullseye-arm64
if [ ! -e "$ARM_ROOT/lib/aarch64-linux-gnu/libc.so.6" ]; then
  [ "$(id -u)" -eq 0 ] || fail "needs root for debootstrap (the bullseye arm64 root)"
  command -v debootstrap >/dev/null || fail "debootstrap missing (apt-get install debootstrap)"
  say "debootstrap --foreign Debian 11 (bullseye) arm64 into $ARM_ROOT (once, ~1 min)"
  rm -rf "$ARM_ROOT.tmp" && mkdir -p "$(dirname "$ARM_ROOT")"
  debootstrap --foreign --arch=arm64 --variant=minbase bullseye "$ARM_ROOT.tmp" \
    "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$ROOT/build/dist/debootstrap-bullseye-arm64.log" 2>&1 ||
    fail "debootstrap bullseye arm64 failed (log: build/dist/debootstrap-bullseye-arm64.log)"
  rm -f "$ARM_ROOT.tmp"/var/cache/apt/archives/*.deb
  mv "$ARM_ROOT.tmp" "$ARM_ROOT"
fi

rm -rf "$WORK" && mkdir -p "$WORK"
for arch in x64 arm64; do
  tar -xzf "dist/slmia-linux-$arch.tar.gz" -C "$WORK"
done
X64=$WORK/slmia-linux-x64
ARM=$WORK/slmia-linux-arm64

# qemu-user sysroot: the bullseye arm64 root, plus an ARM /proc/cpuinfo in it. qemu 7.2 (Debian 12) does not
# emulate /proc/cpuinfo for aarch64, so the guest would read the host's x86 one; onnxruntime's cpuinfo then
# finds no ARM cores and crashes on load. qemu resolves guest paths under -L first, so a Cortex-A72 (Raspberry
# Pi 4) cpuinfo there fixes that. Real hubs need none of this.
# The emulated CPU is a Cortex-A72 too (-cpu cortex-a72): with qemu's default `max` CPU, ONNX Runtime picks
# SVE kernels that qemu emulates ~10x slower than NEON (20 clips: 5.6 min vs 23 s with the target model).
QROOT=$ARM_ROOT
# debootstrap's first stage leaves `proc` as a link to the host's /proc: make it the guest's own folder.
if [ -L "$QROOT/proc" ]; then rm -f "$QROOT/proc"; fi
mkdir -p "$QROOT/proc"
for i in $(seq 0 $(($(nproc) - 1))); do
  printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$i"
done >"$QROOT/proc/cpuinfo"

report=$WORK/report.txt
: >"$report"
glibc=$(qemu-aarch64-static -L "$QROOT" "$QROOT/lib/aarch64-linux-gnu/libc.so.6" | head -1)
libstdcxx=$(basename "$(readlink -f "$QROOT/usr/lib/aarch64-linux-gnu/libstdc++.so.6")")
say "arm64 userland: $glibc, $libstdcxx" | tee -a "$report"
case $glibc in *"version 2.31."*) ;; *) fail "the arm64 root is not glibc 2.31: $glibc" ;; esac
# run <arch> <name> <args...>: run the executable of <arch>, stdout → $WORK/<name>.<arch>.out; records time.
run() {
  local arch=$1 name=$2
  shift 2
  local exe t0 t1
  if [ "$arch" = x64 ]; then exe=("$X64/slmia"); else exe=(qemu-aarch64-static -cpu cortex-a72 -L "$QROOT" "$ARM/slmia"); fi
  t0=$(date +%s.%N)
  "${exe[@]}" "$@" >"$WORK/$name.$arch.out" 2>"$WORK/$name.$arch.err" || {
    cat "$WORK/$name.$arch.err" >&2
    fail "$arch: slmia $* exited with $?"
  }
  t1=$(date +%s.%N)
  local secs
  secs=$(awk "BEGIN{printf \"%.2f\", $t1-$t0}")
  printf '%-8s %-22s %7s s%s\n' "$arch" "$name" "$secs" "$([ "$arch" = arm64 ] && echo '  (qemu-user emulation)')" |
    tee -a "$report"
}

# 1. --version
for arch in x64 arm64; do
  run "$arch" version --version
  [ "$(cat "$WORK/version.$arch.out")" = "$VERSION" ] || fail "$arch --version: $(cat "$WORK/version.$arch.out") ≠ $VERSION"
done
say "--version: $VERSION on both"

# 2. inspect-model on every runtime model in the tarball (default target first).
models=()
for m in "$ARM"/models/*/model.json; do models+=("models/${m#"$ARM"/models/}"); done
[ ${#models[@]} -gt 0 ] || fail "no models/*/model.json in the tarball"
for m in "${models[@]}"; do
  tag=inspect-$(basename "$(dirname "$m")")
  run x64 "$tag" inspect-model --json "$X64/$m"
  run arm64 "$tag" inspect-model --json "$ARM/$m"
  node -e '
    const fs = require("fs");
    const strip = (f) => { const r = JSON.parse(fs.readFileSync(f, "utf8")); delete r.onnx.path; return JSON.stringify(r); };
    if (strip(process.argv[1]) !== strip(process.argv[2])) { console.error("inspect-model differs"); process.exit(1); }
  ' "$WORK/$tag.x64.out" "$WORK/$tag.arm64.out" || fail "inspect-model $m: x64 and arm64 disagree"
  say "inspect-model $m: same manifest, sha256 and ONNX IO on both"
done

# 2b. SQLite addon: open a new store (migrations, WAL) with `history --db` on an empty file.
for arch in x64 arm64; do
  : >"$WORK/store-$arch.db"
  run "$arch" sqlite-store history --json --db "$WORK/store-$arch.db"
  [ "$(node -e 'console.log(require("fs").readFileSync(process.argv[1]).subarray(0, 15).toString())' "$WORK/store-$arch.db")" = "SQLite format 3" ] ||
    fail "$arch: history --db did not create an SQLite store"
done
say "sqlite3 addon: store created and migrated on both"

# 2c. The main job on both: `daemon --demo` (embedded broker, SQLite store, the shipped demo set and reference
# bank; no data folder needed): the same two verdicts over MQTT.
for arch in x64 arm64; do
  home=$X64
  [ "$arch" = arm64 ] && home=$ARM
  mkdir -p "$WORK/demo-$arch"
  printf 'data_dir: %s\nspool:\n  enabled: false\nmqtt:\n  embedded:\n    port: 0\n' "$WORK/demo-$arch" \
    >"$WORK/demo-$arch/config.yaml"
  SLMIA_DATA_DIR=/nonexistent run "$arch" daemon-demo daemon --demo --timeout 600 --config "$WORK/demo-$arch/config.yaml"
  [ "$(grep -c '^verdict: ' "$WORK/daemon-demo.$arch.out")" = 2 ] || fail "$arch: daemon --demo printed no two verdicts"
done
[ "$(grep '^verdict: ' "$WORK/daemon-demo.x64.out" | sed 's/probability [0-9.]*//')" = \
  "$(grep '^verdict: ' "$WORK/daemon-demo.arm64.out" | sed 's/probability [0-9.]*//')" ] ||
  fail "daemon --demo: x64 and arm64 verdicts differ"
say "daemon --demo: the same verdicts on both: $(grep '^verdict: ' "$WORK/daemon-demo.arm64.out" | cut -c1-60 | tr '\n' ';')"

# 3 + 4 need real speech.
DATA=${SLMIA_DATA_DIR:-$ROOT/../shared/data}
SPK_DIR=$DATA/speechocean762/audio/$SPEAKER
if [ ! -d "$SPK_DIR" ]; then
  say "SKIP embed/audit: no speech data at $SPK_DIR (set SLMIA_DATA_DIR to ../shared/data)"
  cat "$report"
  exit 0
fi
export SLMIA_DATA_DIR=$DATA

run x64 embed-fixture embed --json --model "$X64/models/fixture/model.json" --chunk-seconds 1.0 "$SPK_DIR"
run arm64 embed-fixture embed --json --model "$ARM/models/fixture/model.json" --chunk-seconds 1.0 "$SPK_DIR"
node -e '
  const fs = require("fs");
  const [a, b] = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
  if (a.clips.length !== b.clips.length || a.queries !== b.queries) { console.error("clip/query counts differ"); process.exit(1); }
  let max = 0, n = 0;
  a.clips.forEach((c, i) => c.embedding.forEach((e, j) => e.forEach((v, k) => {
    max = Math.max(max, Math.abs(v - b.clips[i].embedding[j][k])); n++;
  })));
  console.log(`dist-check: embed: ${a.clips.length} clips, ${a.queries} queries, ${n} values, max |x64 - arm64| = ${max.toExponential(2)}`);
  if (!(max <= 1e-4)) process.exit(1);
' "$WORK/embed-fixture.x64.out" "$WORK/embed-fixture.arm64.out" || fail "embed: x64 and arm64 embeddings differ by more than 1e-4"

if ! "$X64/slmia" audit --help >/dev/null 2>&1; then
  say "SKIP audit: this build has no \`slmia audit\` command yet"
  cat "$report"
  exit 0
fi
# The daemon's defaults name the shipped target model and attack bundle.
"$X64/slmia" daemon --print-config >"$WORK/config.json"
read -r MODEL ATTACK < <(node -e 'const c=require(process.argv[1]);console.log(c.model, c.attack)' "$WORK/config.json")
rel_model=${MODEL#"$X64"/}
rel_attack=${ATTACK#"$X64"/}
if [ ! -f "$X64/$rel_model" ] || [ ! -f "$X64/$rel_attack" ]; then
  say "SKIP audit: the tarball lacks the default target model or attack bundle ($rel_model, $rel_attack)"
  cat "$report"
  exit 0
fi
for arch in x64 arm64; do
  home=$X64
  [ "$arch" = arm64 ] && home=$ARM
  # With the shipped reference bank the embedding cache stays closed (SQLite is covered by 2b and 2c).
  run "$arch" audit audit --json --cache "$WORK/cache-$arch.sqlite" --target "$home/$rel_model" \
    --attack "$home/$rel_attack" --speaker "$SPEAKER" "$SPK_DIR"
done
node -e '
  const fs = require("fs");
  const [a, b] = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
  const d = Math.abs(a.probability - b.probability);
  console.log(`dist-check: audit ${a.speaker}: x64 ${a.verdict} p=${a.probability.toFixed(6)}, arm64 ${b.verdict} p=${b.probability.toFixed(6)}, |Δp| = ${d.toExponential(2)}; ${a.voices} voices, ${a.queries}/${b.queries} queries, references: ${a.references}`);
  const t = (r) => Object.entries(r.timings ?? {}).map(([k, v]) => `${k.replace(/Ms$/, "")} ${(v / 1000).toFixed(2)}`).join(", ");
  console.log(`dist-check: audit stage seconds x64:   ${t(a)}`);
  console.log(`dist-check: audit stage seconds arm64: ${t(b)} (qemu-user emulation)`);
  if (a.verdict !== b.verdict || !(d <= 1e-3)) process.exit(1);
' "$WORK/audit.x64.out" "$WORK/audit.arm64.out" | tee -a "$report" || fail "audit: x64 and arm64 disagree"

# 5. Microphone path of the bundled daemon (x64; the JS bundle is the same file in both executables):
# `daemon --demo` without data records 3 utterances through node-record-lpcm16 → a fake `arecord` on PATH
# that streams real speech (test/helpers/fake-recorder.ts), and must print a verdict received over MQTT.
fake_dir=$(node --import=tsx --input-type=module -e '
  const { readdirSync } = await import("node:fs");
  const { makeFakeRecorder } = await import(process.argv[1]);
  const d = process.argv[2];
  const r = await makeFakeRecorder(readdirSync(d).sort().slice(0, 3).map((f) => `${d}/${f}`), "arecord");
  console.log(r.dir);
' "$ROOT/test/helpers/fake-recorder.ts" "$SPK_DIR")
mkdir -p "$WORK/mic"
printf 'data_dir: %s\nspool:\n  dir: %s\nmqtt:\n  embedded:\n    port: 0\nmicrophone:\n  recorder: arecord\n' \
  "$WORK/mic" "$WORK/mic/spool" >"$WORK/mic/config.yaml"
# Without the shipped demo set (moved aside for this run), --demo falls back to the microphone.
mv "$X64/demo" "$WORK/demo-aside"
PATH="$fake_dir:$PATH" SLMIA_DATA_DIR=/nonexistent run x64 daemon-demo-mic daemon --demo --timeout 120 \
  --config "$WORK/mic/config.yaml"
mv "$WORK/demo-aside" "$X64/demo"
grep -q '^verdict: microphone → ' "$WORK/daemon-demo-mic.x64.out" || fail "daemon --demo (microphone) printed no verdict"
[ "$(grep -c arecord "$fake_dir/calls.log")" -ge 1 ] || fail "the fake arecord was never run"
say "microphone: $(grep '^verdict:' "$WORK/daemon-demo-mic.x64.out") ($(grep -c . "$fake_dir/calls.log") arecord runs)"
rm -rf "$fake_dir"
cat "$report"
