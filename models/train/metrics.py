"""Verification metrics: trial lists and the equal error rate (EER)."""
import numpy as np


def make_trials(speakers: list, seed: int = 0):
    """All same-speaker pairs (i < j) and an equal number of distinct different-speaker pairs drawn at random.

    speakers: speaker id per utterance. Returns (same `[n, 2]`, diff `[n, 2]`) index arrays.
    """
    spk = np.asarray(speakers)
    n = len(spk)
    iu, ju = np.triu_indices(n, k=1)
    is_same = spk[iu] == spk[ju]
    same = np.stack([iu[is_same], ju[is_same]], axis=1)
    diff_all = np.stack([iu[~is_same], ju[~is_same]], axis=1)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(diff_all), size=min(len(same), len(diff_all)), replace=False)
    return same, diff_all[np.sort(pick)]


def cosine_scores(emb: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    e = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return np.sum(e[pairs[:, 0]] * e[pairs[:, 1]], axis=1)


def eer(target: np.ndarray, nontarget: np.ndarray) -> float:
    """Equal error rate: the rate where the false rejection (target < t) and false acceptance (nontarget ≥ t)
    curves cross, interpolated between the two nearest thresholds. Returns a fraction in [0, 1]."""
    thresholds = np.sort(np.concatenate([target, nontarget]))
    tgt, non = np.sort(target), np.sort(nontarget)
    frr = np.searchsorted(tgt, thresholds, side="left") / len(tgt)
    far = 1.0 - np.searchsorted(non, thresholds, side="left") / len(non)
    k = int(np.argmax(frr >= far))
    if k == 0:
        return float((frr[0] + far[0]) / 2)
    # linear interpolation of the crossing between k-1 and k
    d0, d1 = far[k - 1] - frr[k - 1], far[k] - frr[k]
    a = d0 / (d0 - d1) if d0 != d1 else 0.5
    return float((frr[k - 1] + a * (frr[k] - frr[k - 1]) + far[k - 1] + a * (far[k] - far[k - 1])) / 2)


def verification_eer(emb: np.ndarray, speakers: list, seed: int = 0) -> dict:
    same, diff = make_trials(speakers, seed)
    return {
        "eer": eer(cosine_scores(emb, same), cosine_scores(emb, diff)),
        "same_speaker_trials": int(len(same)),
        "different_speaker_trials": int(len(diff)),
    }
