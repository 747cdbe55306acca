#!/usr/bin/python3
"""Golden values of the `log-mel` front-end from the lab's reference implementation (models/train/logmel.py:
torch.stft / torch.fft.rfft, torch windows, torchaudio.functional.melscale_fbanks, Kaldi get_mel_banks,
torchaudio.functional.amplitude_to_DB), computed in float64.

Writes log-mel.json: for each configuration (a manifest `frontend` section + sample rate) the frames of a
deterministic synthetic signal (always tested) and of real clips of ../shared/data (tested when the data is
there). Run: /usr/bin/python3 test/golden/make_log_mel.py
"""
import json
import math
import os
import sys

import torch
import torchaudio

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models", "train"))
import logmel  # noqa: E402

torch.set_default_dtype(torch.float64)
DATA = os.path.abspath(os.environ.get("SLMIA_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")))

# The cnn-dvector lab family's front-end (a typical wake-word chip): see models/train/data_logmel.py.
DEVICE = {
    "type": "log-mel", "frame_length": 32, "frame_shift": 24, "fft_size": 512, "window_type": "hamming",
    "spectrum": "magnitude", "num_mel_bins": 40, "low_freq": 0, "high_freq": 8000, "mel_scale": "htk",
    "log": {"type": "db", "floor": 1e-5}, "scale": 1 / 120, "offset": 80 / 120, "clip": [0, 1],
}
CONFIGS = [
    ("device-8bit", 16000, {**DEVICE, "quantize_bits": 8}),
    ("device-float", 16000, DEVICE),
    # torchaudio.transforms.MelSpectrogram-style: periodic Hann, centred reflect-padded frames, power, Slaney
    # mel with area normalisation, ln(x + 1e-6), per-clip mean normalisation
    ("torchaudio-slaney", 16000, {
        "type": "log-mel", "frame_length": 25, "frame_shift": 10, "fft_size": 512, "window_type": "hann-periodic",
        "center": True, "pad_mode": "reflect", "spectrum": "power", "num_mel_bins": 80, "low_freq": 20,
        "high_freq": 7600, "mel_scale": "slaney", "mel_norm": "slaney",
        "log": {"type": "ln", "floor": 1e-6, "floor_mode": "add"}, "cmn": True}),
    # Kaldi/TF-style triangles in mel, symmetric Hann, 16-bit input scale, power dB with top_db, 8 kHz
    ("mel-domain-8k", 8000, {
        "type": "log-mel", "frame_length": 30, "frame_shift": 20, "fft_size": 256, "window_type": "hann",
        "spectrum": "power", "num_mel_bins": 32, "low_freq": 60, "high_freq": 3800, "mel_scale": "htk",
        "filter_domain": "mel", "input_scale": 32768, "log": {"type": "db", "floor": 1e-10, "top_db": 60},
        "scale": 0.05, "offset": -2}),
    # Slaney mel with triangles in mel, povey window, log10 / log2 variants, constant-padded centring
    ("slaney-mel-log10", 16000, {
        "type": "log-mel", "frame_length": 20, "frame_shift": 10, "window_type": "povey", "spectrum": "magnitude",
        "num_mel_bins": 24, "low_freq": 100, "mel_scale": "slaney", "filter_domain": "mel",
        "log": {"type": "log10", "floor": 1e-4}}),
    ("centre-constant-log2", 22050, {
        "type": "log-mel", "frame_length": 40, "frame_shift": 15, "fft_size": 1024,
        "window_type": "rectangular", "center": True, "pad_mode": "constant", "spectrum": "power",
        "num_mel_bins": 64, "mel_scale": "htk", "log": {"type": "log2", "floor": 1e-8, "floor_mode": "add"},
        "scale": 0.5, "offset": 3, "clip": [-20, 20], "quantize_bits": 6}),
    ("hamming-periodic-linear", 16000, {
        "type": "log-mel", "frame_length": 16, "frame_shift": 8, "window_type": "hamming-periodic",
        "spectrum": "magnitude", "num_mel_bins": 20, "high_freq": 4000, "mel_scale": "htk",
        "mel_norm": "slaney", "log": {"type": "none", "floor": 0}, "scale": 10}),
]
SIGNAL = ("float32(0.3 sin(2 pi 220 t) + 0.1 sin(2 pi 1375 t + 0.5) + 0.05 sin(1.7 i) + 0.2 sin(2 pi (300 t + 900 t^2))"
          " * (0.6 + 0.4 sin(2 pi 3 t))), t = i / rate, i < 1.2 rate")
REAL = ["speechocean762/audio/SPEAKER0001/000010035.flac", "arabic-speech-commands/audio/SPK00000001/ok_01.flac"]


def synthetic(rate: int) -> torch.Tensor:
    n = int(1.2 * rate)
    t = torch.arange(n, dtype=torch.float64) / rate
    i = torch.arange(n, dtype=torch.float64)
    x = (0.3 * torch.sin(2 * math.pi * 220 * t) + 0.1 * torch.sin(2 * math.pi * 1375 * t + 0.5)
         + 0.05 * torch.sin(1.7 * i) + 0.2 * torch.sin(2 * math.pi * (300 * t + 900 * t * t))
         * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t)))
    return x.to(torch.float32).to(torch.float64)  # the TypeScript front-end takes float32 samples


def rounded(t: torch.Tensor) -> list:
    return [[round(float(v), 9) for v in row] for row in t]


out = {"generator": f"test/golden/make_log_mel.py (torch {torch.__version__}, torchaudio {torchaudio.__version__}, "
                    "float64, reference models/train/logmel.py)", "signal": SIGNAL, "configs": []}
for name, rate, cfg in CONFIGS:
    x = synthetic(rate)
    y = logmel.log_mel(x, cfg, rate)
    entry = {"name": name, "sample_rate": rate, "frontend": cfg, "num_samples": x.shape[0], "num_frames": y.shape[0],
             "frames": rounded(y), "real": []}
    if rate == 16000:
        for rel in REAL:
            path = os.path.join(DATA, rel)
            wave, sr = torchaudio.load(path)
            yr = logmel.log_mel(wave[0].to(torch.float64), cfg, sr)
            entry["real"].append({"path": rel, "num_samples": wave.shape[1], "num_frames": yr.shape[0],
                                  "first_frames": rounded(yr[:12]), "mean_over_frames": [round(float(v), 9) for v in yr.mean(0)]})
    out["configs"].append(entry)
    print(f"{name}: {y.shape[0]} frames, range [{float(y.min()):.3f}, {float(y.max()):.3f}]")
with open(os.path.join(HERE, "log-mel.json"), "w") as f:
    json.dump(out, f, separators=(",", ":"))
    f.write("\n")
