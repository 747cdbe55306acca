"""Reference implementation of the `log-mel` manifest front-end in PyTorch / torchaudio formulas.

This is the lab's definition of the front-end that `src/frontend/log-mel.ts` must reproduce (golden values in
test/golden/log-mel.json, made by test/golden/make_log_mel.py from this file; |TS - here| < 1e-4). It is
written independently of the TypeScript code and leans on the library functions where they exist:
`torch.hamming_window` / `torch.hann_window` (periodic or symmetric), `torch.stft` (centred frames),
`torch.fft.rfft`, `torchaudio.functional.melscale_fbanks` (triangles in Hz, librosa-compatible),
`torchaudio.compliance.kaldi.get_mel_banks` (triangles in mel, Kaldi) and
`torchaudio.functional.amplitude_to_DB`.

Pipeline for one clip `[samples]` (float in [-1, 1) at `sample_rate` Hz), each step named by its manifest field:
  x * input_scale → frames (frame_length / frame_shift ms, truncated to whole samples; `center` as torch.stft)
  → window (window_type) → |rfft(fft_size)| (spectrum: magnitude, or its square for power)
  → mel filterbank (num_mel_bins, low_freq..high_freq, mel_scale htk|slaney, mel_norm none|slaney,
    filter_domain hz|mel) → log (db with multiplier, ln, log10, log2 or none; floor by clamp or add;
    top_db) → cmn (optional mean over frames) → * scale + offset → clip [lo, hi] → quantize_bits levels over
    the clip range (round half to even, as torch.round).
Output `[frames, num_mel_bins]`.
"""
import math

import torch
import torchaudio

DEFAULTS = {
    "center": False,
    "pad_mode": "reflect",
    "low_freq": 0.0,
    "high_freq": None,  # Nyquist
    "mel_norm": "none",
    "filter_domain": "hz",
    "input_scale": 1.0,
    "cmn": False,
    "scale": 1.0,
    "offset": 0.0,
    "clip": None,
    "quantize_bits": None,
    "fft_size": None,  # next power of two of the frame length
}


def frame_samples(sample_rate: int, ms: float) -> int:
    """Samples in `ms` milliseconds, truncated (Kaldi / torchaudio.compliance.kaldi convention)."""
    return int(sample_rate * ms * 0.001)


def resolve(cfg: dict) -> dict:
    out = {**DEFAULTS, **cfg}
    log = {"floor": 1e-10, "floor_mode": "clamp", "top_db": None, **out["log"]}
    if log["type"] == "db" and "multiplier" not in log:
        log["multiplier"] = 10.0 if out["spectrum"] == "power" else 20.0
    out["log"] = log
    return out


def window(kind: str, n: int, dtype) -> torch.Tensor:
    if kind == "rectangular":
        return torch.ones(n, dtype=dtype)
    if kind == "povey":
        return torch.hann_window(n, periodic=False, dtype=dtype).pow(0.85)
    base, _, periodic = kind.partition("-")
    fn = {"hamming": torch.hamming_window, "hann": torch.hann_window}[base]
    return fn(n, periodic=periodic == "periodic", dtype=dtype)


def hz_to_mel(f, scale: str):
    """HTK: 2595 log10(1 + f/700). Slaney (librosa htk=False): linear below 1 kHz, logarithmic above."""
    if scale == "htk":
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return torch.where(f >= min_log_hz, min_log_mel + torch.log(f / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m, scale: str):
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return torch.where(m >= min_log_mel, min_log_hz * torch.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(c: dict, sample_rate: int, fft_size: int, dtype) -> torch.Tensor:
    """`[fft_size // 2 + 1, num_mel_bins]` filterbank."""
    n_freqs = fft_size // 2 + 1
    high = c["high_freq"] if c["high_freq"] is not None else sample_rate / 2
    low = float(c["low_freq"])
    if c["filter_domain"] == "hz":
        fb = torchaudio.functional.melscale_fbanks(
            n_freqs, low, float(high), c["num_mel_bins"], sample_rate,
            norm=None if c["mel_norm"] == "none" else "slaney", mel_scale=c["mel_scale"])
        return fb.to(dtype)
    # triangles in the mel domain
    if c["mel_scale"] == "htk":
        # Kaldi's own code: its mel 1127 ln(1 + f/700) is HTK's 2595 log10(1 + f/700) up to a constant factor,
        # which cancels in the triangle slopes. `[bins, fft_size/2]` without the Nyquist column (weight 0 there).
        banks, _ = torchaudio.compliance.kaldi.get_mel_banks(c["num_mel_bins"], fft_size, float(sample_rate), low,
                                                              float(high), 100.0, -500.0, 1.0)
        fb = torch.cat([banks.to(dtype), torch.zeros(c["num_mel_bins"], 1, dtype=dtype)], dim=1).T
    else:
        freqs = torch.arange(n_freqs, dtype=dtype) * sample_rate / fft_size
        mel = hz_to_mel(freqs, c["mel_scale"])
        edges = torch.linspace(float(hz_to_mel(torch.tensor(low, dtype=dtype), c["mel_scale"])),
                               float(hz_to_mel(torch.tensor(float(high), dtype=dtype), c["mel_scale"])),
                               c["num_mel_bins"] + 2, dtype=dtype)
        left, centre, right = edges[:-2], edges[1:-1], edges[2:]
        up = (mel[:, None] - left[None]) / (centre - left)[None]
        down = (right[None] - mel[:, None]) / (right - centre)[None]
        fb = torch.clamp(torch.minimum(up, down), min=0)
    if c["mel_norm"] == "slaney":
        edges_hz = mel_to_hz(torch.linspace(float(hz_to_mel(torch.tensor(low, dtype=dtype), c["mel_scale"])),
                                            float(hz_to_mel(torch.tensor(float(high), dtype=dtype), c["mel_scale"])),
                                            c["num_mel_bins"] + 2, dtype=dtype), c["mel_scale"])
        fb = fb * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[None]
    return fb


def log_mel(wave: torch.Tensor, cfg: dict, sample_rate: int) -> torch.Tensor:
    """`[samples]` → `[frames, num_mel_bins]` in the dtype of `wave` (use float64 for golden values)."""
    c = resolve(cfg)
    dtype = wave.dtype
    win = frame_samples(sample_rate, c["frame_length"])
    hop = frame_samples(sample_rate, c["frame_shift"])
    fft_size = c["fft_size"] or 2 ** math.ceil(math.log2(win))
    x = wave * c["input_scale"]
    w = window(c["window_type"], win, dtype)
    if c["center"]:
        spec = torch.stft(x, n_fft=fft_size, hop_length=hop, win_length=win, window=w, center=True,
                          pad_mode=c["pad_mode"], return_complex=True).abs().T
    else:
        if x.shape[0] < win:
            return torch.zeros(0, c["num_mel_bins"], dtype=dtype)
        frames = x.unfold(0, win, hop) * w
        spec = torch.fft.rfft(frames, n=fft_size).abs()
    if c["spectrum"] == "power":
        spec = spec.pow(2)
    mel = spec @ mel_filters(c, sample_rate, fft_size, dtype)
    log = c["log"]
    kind = log["type"]
    if kind != "none":
        floored = torch.clamp(mel, min=log["floor"]) if log["floor_mode"] == "clamp" else mel + log["floor"]
        if kind == "db":
            if log["floor_mode"] == "clamp":
                y = torchaudio.functional.amplitude_to_DB(mel.T, log["multiplier"], log["floor"], 0.0, None).T
            else:
                y = log["multiplier"] * torch.log10(floored)
            if log["top_db"] is not None:
                y = torch.clamp(y, min=float(y.max()) - log["top_db"])
        else:
            y = {"ln": torch.log, "log10": torch.log10, "log2": torch.log2}[kind](floored)
    else:
        y = mel
    if c["cmn"]:
        y = y - y.mean(dim=0, keepdim=True)
    y = y * c["scale"] + c["offset"]
    if c["clip"] is not None:
        lo, hi = c["clip"]
        y = torch.clamp(y, lo, hi)
        if c["quantize_bits"]:
            levels = 2 ** c["quantize_bits"] - 1
            y = lo + torch.round((y - lo) / (hi - lo) * levels) * ((hi - lo) / levels)
    return y


def window_samples(cfg: dict, sample_rate: int, frames: int) -> int:
    """Samples that give exactly `frames` frames (center false: frame + (frames - 1) hops)."""
    c = resolve(cfg)
    win = frame_samples(sample_rate, c["frame_length"])
    hop = frame_samples(sample_rate, c["frame_shift"])
    return (frames - 1) * hop if c["center"] else win + (frames - 1) * hop
