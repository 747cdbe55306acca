#!/bin/bash
# The fresh out-of-domain set of the shadow-only redo (docs/evaluation/README.md, "Shadow-only selection
# protocol", item 6): every Arabic keyword speaker's 1 s keywords concatenated pairwise into 2 s clips —
# ok_i + open_i (10 clips) and start_{2j−1} + start_{2j} (5 clips) — so that a voice holds more speech than the
# bundles' min_voice_seconds. Writes a dataset folder in the layout `slmia evaluate --ood` reads.
# usage: models/eval/arabic-pairs.sh [SRC=$SLMIA_DATA_DIR/arabic-speech-commands] [OUT=.work/arabic-pairs]
set -euo pipefail
src=${1:-${SLMIA_DATA_DIR:-../shared/data}/arabic-speech-commands}
out=${2:-.work/arabic-pairs}
command -v sox >/dev/null || { echo "sox is needed (apt-get install sox)" >&2; exit 1; }
[ -f "$src/utterances.tsv" ] || { echo "no $src/utterances.tsv" >&2; exit 1; }
mkdir -p "$out/audio"
printf 'utterance\tspeaker\tkeyword\tpath\tseconds\n' > "$out/utterances.tsv"
for dir in "$src"/audio/*/; do
  spk=$(basename "$dir")
  mkdir -p "$out/audio/$spk"
  pair() { # name keyword a b
    [ -f "$dir/$3.flac" ] && [ -f "$dir/$4.flac" ] || return 0
    sox "$dir/$3.flac" "$dir/$4.flac" "$out/audio/$spk/$1.flac"
    printf '%s_%s\t%s\t%s\taudio/%s/%s.flac\t%s\n' "$spk" "$1" "$spk" "$2" "$spk" "$1" \
      "$(soxi -D "$out/audio/$spk/$1.flac")" >> "$out/utterances.tsv"
  }
  for i in 01 02 03 04 05 06 07 08 09 10; do pair "ok_open_$i" ok+open "ok_$i" "open_$i"; done
  for j in 1 3 5 7 9; do
    a=$(printf '%02d' "$j"); b=$(printf '%02d' $((j + 1)))
    pair "start_${a}_$b" start+start "start_$a" "start_$b"
  done
done
echo "wrote $(($(wc -l < "$out/utterances.tsv") - 1)) clips to $out"
