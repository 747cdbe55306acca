"""The wake-word family of the model lab: a small CNN d-vector on fixed ~1 s log-mel windows, as speaker models
ship on wake-word chips and hubs.

Front-end (the manifest's `log-mel` section, reference implementation logmel.py, TS src/frontend/log-mel.ts):
32 ms Hamming frames every 24 ms, |FFT(512)| magnitude, 40 HTK mel filters 0-8 kHz, 20 log10 (dB, floor 1e-5),
then (dB + 80) / 120 clipped to [0, 1] and rounded to 8 bits (a uint8 feature map on the chip).
Window: 40 frames (15488 samples = 0.968 s), hop 20 frames (0.48 s); a voice shorter than one window is
repeated up to it (`pad: wrap`), as src/model/window.ts does. The model input is `[N, 40, 40, 1]`
(batch, frames, mel, channel: the TFLite image layout); the utterance embedding is the mean of the window
d-vectors (Variani et al., ICASSP 2014).
"""
import hashlib
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

import data as D
import logmel

FRONTEND = {
    "type": "log-mel", "frame_length": 32, "frame_shift": 24, "fft_size": 512, "window_type": "hamming",
    "spectrum": "magnitude", "num_mel_bins": 40, "low_freq": 0, "high_freq": 8000, "mel_scale": "htk",
    "log": {"type": "db", "floor": 1e-5}, "scale": 1 / 120, "offset": 80 / 120, "clip": [0, 1], "quantize_bits": 8,
}
WINDOW_FRAMES = 40
WINDOW_HOP = 20
WINDOW_SAMPLES = logmel.window_samples(FRONTEND, D.SAMPLE_RATE, WINDOW_FRAMES)  # 15488
HOP_SAMPLES = WINDOW_HOP * logmel.frame_samples(D.SAMPLE_RATE, FRONTEND["frame_shift"])  # 7680


def features(wave: torch.Tensor) -> torch.Tensor:
    """`[samples]` float32 → `[frames, 40]` float32 (computed in float64, as the TS front-end)."""
    return logmel.log_mel(wave.to(torch.float64), FRONTEND, D.SAMPLE_RATE).to(torch.float32)


def cut_windows(wave: torch.Tensor) -> list:
    """The windows of one voice, exactly as src/model/window.ts cuts them (wrap-padded when short)."""
    n = wave.shape[0]
    if n < WINDOW_SAMPLES:
        reps = (WINDOW_SAMPLES + n - 1) // n
        return [wave.repeat(reps)[:WINDOW_SAMPLES]]
    return [wave[s:s + WINDOW_SAMPLES] for s in range(0, n - WINDOW_SAMPLES + 1, HOP_SAMPLES)]


def window_features(wave: torch.Tensor) -> torch.Tensor:
    """`[windows, 40, 40]`: the front-end of each window of the voice."""
    return torch.stack([features(w) for w in cut_windows(wave)])


def _cache(kind: str, utts: list, speed: float, fn) -> list:
    cache_dir = os.path.join(D.work_dir(), "logmel")
    os.makedirs(cache_dir, exist_ok=True)
    key = hashlib.sha256(("|".join(u.path for u in utts) + f"|{speed}|{kind}|" + json.dumps(FRONTEND, sort_keys=True)
                          + f"|{WINDOW_FRAMES}|{WINDOW_HOP}").encode()).hexdigest()[:16]
    cache = os.path.join(cache_dir, f"{key}.pt")
    if os.path.exists(cache):
        return torch.load(cache)
    out = [fn(D.speed_perturb(D.load_wave(u.path), speed)) for u in utts]
    torch.save(out, cache + ".tmp")
    os.replace(cache + ".tmp", cache)
    return out


def cached_features(utts: list, speed: float = 1.0) -> list:
    """Whole-utterance log-mel `[frames, 40]` per utterance (training crops), cached under .work/models/logmel/."""
    return _cache("clip", utts, speed, features)


def cached_windows(utts: list) -> list:
    """Window stacks `[windows, 40, 40]` per utterance (evaluation: what the TS adapter feeds the model)."""
    return _cache("windows", utts, 1.0, window_features)


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        return F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)


class CNNDVector(nn.Module):
    """Small CNN d-vector: three conv blocks (3x3 conv-BN-ReLU twice, 2x2 max-pool) on the 40 x 40 log-mel
    window, the mean over time of the `[channels x 5 mel bands]` map, a linear d-vector layer; softmax
    cross-entropy head over the training speakers (Variani et al. 2014; the d-vector is the layer before
    the classifier)."""

    def __init__(self, n_classes: int, channels=(16, 32, 64), emb_dim: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        blocks, cin = [], 1
        for c in channels:
            blocks.append(ConvBlock(cin, c))
            cin = c
        self.body = nn.Sequential(*blocks)
        bands = 40 // (2 ** len(channels))
        self.dvector = nn.Linear(cin * bands, emb_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.BatchNorm1d(emb_dim), nn.Dropout(dropout), nn.Linear(emb_dim, n_classes))
        self.emb_dim = emb_dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """`[B, 40 frames, 40 mel]` → `[B, emb_dim]` window d-vectors."""
        y = self.body(x.unsqueeze(1))  # [B, C, T/8, M/8]
        y = y.mean(dim=2).flatten(1)  # mean over time → [B, C * M/8]
        return self.dvector(y)

    def logits(self, emb: torch.Tensor, labels=None) -> torch.Tensor:
        return self.head(emb)


class ExportedDVector(nn.Module):
    """ONNX wrapper: `[N, 40, 40, 1]` (batch, frames, mel, channel) → centred window d-vector `[N, emb_dim]`."""

    def __init__(self, net: CNNDVector, mean: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", mean.clone())

    def forward(self, logmel_window: torch.Tensor) -> torch.Tensor:
        return self.net.embed(logmel_window[..., 0]) - self.mean


@torch.no_grad()
def embed_utterances(net, windows: list, mean=None, l2_windows: bool = False, batch: int = 256) -> torch.Tensor:
    """Utterance embeddings: the mean of each utterance's window d-vectors (centred by `mean` first, each
    L2-normalised first when `l2_windows`), as the TS adapter pools them."""
    net.eval()
    flat = torch.cat(windows)
    owner = torch.cat([torch.full((w.shape[0],), i) for i, w in enumerate(windows)])
    emb = torch.cat([net.embed(flat[k:k + batch]) for k in range(0, flat.shape[0], batch)])
    if mean is not None:
        emb = emb - mean
    if l2_windows:
        emb = F.normalize(emb, dim=1)
    out = torch.zeros(len(windows), emb.shape[1])
    out.index_add_(0, owner, emb)
    return out / torch.bincount(owner, minlength=len(windows)).unsqueeze(1)
