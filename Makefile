# slmia-auditor — the two set-up commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
PY := /usr/bin/python3

.PHONY: all deps build test lint format run fleet bench fixture clean models-deps models models-smoke

all: build

# npm ci when package-lock.json is newer than the installed tree.
node_modules/.package-lock.json: package.json package-lock.json .npmrc
	npm ci
	@touch $@

deps: node_modules/.package-lock.json

dist/cli.js: deps $(shell find src -name '*.ts' 2>/dev/null) tsconfig.json
	$(NODE_BIN)/tsc -p tsconfig.json
	chmod +x dist/cli.js

# The project's own WebAssembly (AssemblyScript sources src/**/*.as.ts → dist/**/*.wasm): the per-frame loops of
# the fbank (importing PFFFT's memory and FFT) and of the VAD (importing libfvad's memory and fvad_process), and
# the decoders' sample loops (16-bit PCM → float, FLAC rescaling; a memory of its own, passed in).
WASM := dist/frontend/fbank.wasm dist/audio/vad.wasm dist/audio/pcm.wasm
dist/%.wasm: src/%.as.ts | deps
	@mkdir -p $(@D)
	$(NODE_BIN)/asc $< -o $@ --importMemory --noExportMemory --runtime stub -O3 --noAssert --use abort= --enable simd

build: dist/cli.js $(WASM)

test: build
	$(NODE_BIN)/ava

lint: deps
	$(NODE_BIN)/eslint .
	$(NODE_BIN)/prettier --check .
	$(NODE_BIN)/tsc -p tsconfig.test.json

format: deps
	$(NODE_BIN)/prettier --write .

# The main job on its embedded defaults: start the daemon (embedded MQTT broker on 127.0.0.1:1883), send audit
# requests over MQTT for the shipped demo set (demo/: a member heard through fresh voices and a non-member of
# the default target; or AUDIO="files…"), print the verdicts received over MQTT, stop. Needs no ../shared.
run: build
	node dist/cli.js daemon --demo $(AUDIO)

# The fleet dashboard on embedded defaults: a hub daemon (embedded broker on 127.0.0.1:1883) and the fleet page
# (http://127.0.0.1:8080) watching it, in one process; prints the URL. Ctrl-C stops both.
fleet: build
	node dist/cli.js fleet --with-daemon

# Benchmarks (bench/RESULTS.md): paired, interleaved measurements; each prints Markdown, also kept in .work/bench/.
# About 25–35 min on 2 shared cores (the 500-audit memory run and the fleet/fuzz benches are most of it). The
# daemon benches use the shipped demo set when ../shared/data is absent; embed.ts needs the data.
BENCH_OUT := .work/bench
bench: build
	@mkdir -p $(BENCH_OUT)
	set -o pipefail; node --import=tsx bench/cli-startup.ts | tee $(BENCH_OUT)/cli-startup.md
	set -o pipefail; node --import=tsx bench/daemon-overhead.ts | tee $(BENCH_OUT)/daemon-overhead.md
	set -o pipefail; node --import=tsx bench/spool-latency.ts | tee $(BENCH_OUT)/spool-latency.md
	set -o pipefail; node --import=tsx bench/daemon-memory.ts --audits 500 --variants unit,before | tee $(BENCH_OUT)/daemon-memory.md
	set -o pipefail; node --import=tsx bench/ort-memory.ts | tee $(BENCH_OUT)/ort-memory.md
	set -o pipefail; node --import=tsx bench/features.ts | tee $(BENCH_OUT)/features.md
	@if [ -f "$${SLMIA_DATA_DIR:-../shared/data}/speechocean762/utterances.tsv" ]; then \
	  set -o pipefail; node --import=tsx bench/embed.ts | tee $(BENCH_OUT)/embed.md; \
	else echo "bench/embed.ts: speechocean762 not found (set SLMIA_DATA_DIR): skipped"; fi
	set -o pipefail; node --import=tsx bench/fleet-scale.ts
	set -o pipefail; node --import=tsx bench/frontend-speed.ts --rounds 40 --threads 2 | tee $(BENCH_OUT)/frontend-speed.md
	set -o pipefail; node --import=tsx bench/frontend-speed.ts --rounds 40 --threads 1 | tee $(BENCH_OUT)/frontend-speed-1thread.md
	set -o pipefail; node --import=tsx bench/floor-vad.ts
	set -o pipefail; node --import=tsx bench/fuzz-audio.ts 10000 20261130
	set -o pipefail; node --import=tsx bench/request-rss.ts
	set -o pipefail; node --import=tsx bench/fuzz-requests.ts 10000 20261130
	set -o pipefail; node --import=tsx bench/chaos.ts 200 20261130

# Regenerate the tiny test model (needs python3-torch: `make models-deps`).
fixture:
	$(PY) models/fixture/make_fixture.py

# Model lab (models/train: Python 3 + PyTorch from Debian, run with /usr/bin/python3; see models/README.md).
models-deps:
	@$(PY) -c 'import torch, torchaudio, onnx' 2>/dev/null || { \
	  apt-get update -q && apt-get install -y -q --no-install-recommends python3-torch python3-torchaudio python3-onnx; }

# Retrain all eight lab models and the int8 variants from scratch (fixed seeds; about 2 h on 2 shared cores).
models: models-deps deps
	for arch in tdnn-ce resnet-aam lstm-ge2e cnn-dvector; do for role in target shadow; do \
	  $(PY) models/train/train.py --arch $$arch --role $$role || exit 1; done; done
	$(PY) models/train/quantize_int8.py --src models/tdnn-ce-target
	$(PY) models/train/quantize_int8.py --src models/cnn-dvector-target

# CI smoke run of the lab: tdnn-ce (1 epoch, 5 speakers, int8) and cnn-dvector (1 epoch, 3 speakers), export +
# onnxruntime check (skips without data).
models-smoke: build
	@if [ ! -f "$${SLMIA_DATA_DIR:-../shared/data}/speechocean762/utterances.tsv" ]; then \
	  echo "models-smoke: speechocean762 not found (set SLMIA_DATA_DIR): skipped"; else \
	  $(PY) models/train/train.py --arch tdnn-ce --role target --epochs 1 --speakers 5 --out .work/models/smoke && \
	  $(PY) models/train/quantize_int8.py --src .work/models/smoke --out .work/models/smoke-int8 --speakers 5 && \
	  $(PY) models/train/train.py --arch cnn-dvector --role target --epochs 1 --speakers 3 --set 'speeds=[1.0]' \
	    --out .work/models/smoke-cnn && \
	  node dist/cli.js inspect-model .work/models/smoke/model.json >/dev/null && \
	  node dist/cli.js inspect-model .work/models/smoke-cnn/model.json >/dev/null && echo "models-smoke: ok"; fi

# Release tarballs dist/slmia-linux-{arm64,x64}.tar.gz: one Node single-executable + native addons + models +
# systemd unit + install.sh (deploy/README.md). Needs g++-aarch64-linux-gnu (arm64 sqlite3 cross-compile).
.PHONY: dist dist-check install-check systemd-check
dist: deps $(WASM)
	deploy/build-dist.sh

# Run the arm64 build under qemu-user on a Debian 11 (glibc 2.31) arm64 root and require the x64 build's answers
# (needs qemu-user-static and debootstrap).
dist-check: dist
	deploy/check-dist.sh

# install.sh in a Debian chroot (debootstrap): user, paths, `systemd-analyze verify` on the unit.
install-check: dist
	deploy/check-install.sh

# The installed unit under a real systemd (systemd-nspawn --boot of a Debian 12 root): active (running) with its
# hardening in force, one spool audit, a clean stop (needs root, systemd-container, mosquitto-clients).
systemd-check: dist
	deploy/check-systemd.sh

clean:
	rm -rf dist build .work
