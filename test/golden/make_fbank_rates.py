#!/usr/bin/python3
"""Reference fbank values at sample rates where 25 ms / 10 ms are not whole samples (torchaudio truncates).

Writes fbank-rates.json: for 8000 and 22050 Hz, a deterministic 0.3 s signal and the first 6 frames of
torchaudio.compliance.kaldi.fbank (40 mel bins, dither 0, input scaled by 32768). Run: /usr/bin/python3 make_fbank_rates.py
"""
import json
import math
import os

import torch
import torchaudio

out = {"generator": "test/golden/make_fbank_rates.py (torchaudio %s)" % torchaudio.__version__, "rates": {}}
for rate in (8000, 22050):
    n = int(0.3 * rate)
    x = [0.3 * math.sin(2 * math.pi * 220 * i / rate) + 0.1 * math.sin(2 * math.pi * 1375 * i / rate + 0.5)
         + 0.05 * math.sin(i * 1.7) for i in range(n)]
    x32 = torch.tensor(x, dtype=torch.float32)  # the TypeScript front-end takes float32 samples
    x = x32.tolist()
    w = x32.to(torch.float64).unsqueeze(0) * 32768
    fb = torchaudio.compliance.kaldi.fbank(w, num_mel_bins=40, dither=0.0, sample_frequency=float(rate),
                                           energy_floor=0.0)
    out["rates"][str(rate)] = {
        "num_samples": n,
        "num_frames": fb.shape[0],
        "signal": "float32(0.3 sin(2 pi 220 i/rate) + 0.1 sin(2 pi 1375 i/rate + 0.5) + 0.05 sin(1.7 i)), i < num_samples",
        "first_frames": fb[:6].tolist(),
    }
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fbank-rates.json"), "w") as f:
    json.dump(out, f)
