"""Dataset access and the fbank front-end of the model lab.

Layout (see ../shared/data/README.md): `<data>/speechocean762/utterances.tsv` (utterance, speaker, path, ...)
and `splits/five-way.tsv` (utterance, speaker, group, role). The data folder is `$SLMIA_DATA_DIR`
(default `../shared/data` beside the project root), as in src/paths.ts.

Front-end (must match src/frontend/kaldi-fbank.ts and the manifest): torchaudio.compliance.kaldi.fbank with
80 mel bins, 25/10 ms frames, povey window, dither 0, on the waveform scaled to 16-bit range (x * 32768),
then CMN = subtract the mean over frames of the clip (or crop).
"""
import csv
import hashlib
import os
from dataclasses import dataclass

import torch
import torchaudio

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SAMPLE_RATE = 16000
NUM_MEL_BINS = 80

FRONTEND = {"type": "kaldi-fbank", "num_mel_bins": NUM_MEL_BINS, "cmn": True}


def data_dir() -> str:
    """`$SLMIA_DATA_DIR`, else `<root>/../shared/data`."""
    return os.path.abspath(os.environ.get("SLMIA_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")))


def corpus_dir() -> str:
    return os.path.join(data_dir(), "speechocean762")


def work_dir() -> str:
    """Git-ignored scratch folder (`<root>/.work/models`) for feature caches and logs."""
    d = os.path.join(ROOT, ".work", "models")
    os.makedirs(d, exist_ok=True)
    return d


@dataclass(frozen=True)
class Utt:
    utterance: str
    speaker: str
    path: str  # absolute
    group: str
    role: str


def _read_tsv(path: str) -> list:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def split_file(split: str = "five-way") -> str:
    return os.path.join(corpus_dir(), "splits", f"{split}.tsv")


def file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load_split(split: str = "five-way") -> list:
    """All utterances with their split group and role, sorted by (speaker, utterance)."""
    corpus = corpus_dir()
    utts = {r["utterance"]: r for r in _read_tsv(os.path.join(corpus, "utterances.tsv"))}
    out = []
    for r in _read_tsv(split_file(split)):
        u = utts[r["utterance"]]
        out.append(Utt(r["utterance"], r["speaker"], os.path.join(corpus, u["path"]), r["group"], r["role"]))
    out.sort(key=lambda u: (u.speaker, u.utterance))
    return out


def select(utts: list, group: str, role: str) -> list:
    return [u for u in utts if u.group == group and u.role == role]


def fbank_raw(wave: torch.Tensor) -> torch.Tensor:
    """Kaldi fbank before CMN. wave: `[samples] float32` in [-1, 1) at 16 kHz → `[frames, 80] float32`."""
    return torchaudio.compliance.kaldi.fbank(
        wave.unsqueeze(0) * 32768.0,
        num_mel_bins=NUM_MEL_BINS,
        frame_length=25.0,
        frame_shift=10.0,
        dither=0.0,
        window_type="povey",
        sample_frequency=SAMPLE_RATE,
    )


def cmn(feats: torch.Tensor) -> torch.Tensor:
    """Cepstral mean normalisation over frames (dim -2)."""
    return feats - feats.mean(dim=-2, keepdim=True)


def load_wave(path: str) -> torch.Tensor:
    wave, sr = torchaudio.load(path)
    if sr != SAMPLE_RATE:
        raise ValueError(f"{path}: sample rate {sr}, expected {SAMPLE_RATE}")
    return wave[0]


def speed_perturb(wave: torch.Tensor, speed: float) -> torch.Tensor:
    """Kaldi-style speed perturbation (resample by 1/speed, played back at 16 kHz): tempo and pitch change."""
    if speed == 1.0:
        return wave
    # speed = a / b in lowest terms with small integers keeps the polyphase kernel short (0.9 → 9/10)
    from fractions import Fraction
    ratio = Fraction(speed).limit_denominator(20)
    return torchaudio.functional.resample(wave, ratio.numerator, ratio.denominator)


def cached_fbanks(utts: list, speed: float = 1.0) -> list:
    """Raw fbank (before CMN) of each utterance, cached under `.work/models/fbank/` keyed by utterance and speed.

    Returns `[frames, 80] float32` tensors in the order of `utts`.
    """
    cache_dir = os.path.join(work_dir(), "fbank")
    os.makedirs(cache_dir, exist_ok=True)
    key = hashlib.sha256(("|".join(u.path for u in utts) + f"|{speed}").encode()).hexdigest()[:16]
    cache = os.path.join(cache_dir, f"{key}.pt")
    if os.path.exists(cache):
        return torch.load(cache)
    feats = [fbank_raw(speed_perturb(load_wave(u.path), speed)) for u in utts]
    torch.save(feats, cache + ".tmp")
    os.replace(cache + ".tmp", cache)
    return feats
