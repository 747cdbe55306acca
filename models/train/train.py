#!/usr/bin/python3
"""Train one speaker-embedding model on one split group and export it (ONNX + model.json + card.json).

    /usr/bin/python3 models/train/train.py --arch tdnn-ce --role target            # → models/tdnn-ce-target/
    /usr/bin/python3 models/train/train.py --arch tdnn-ce --role target --epochs 1 --speakers 5 --out .work/smoke

Training data: the `train` utterances of `target-member` (role target) or `shadow-member` (role shadow) in
splits/five-way.tsv. Verification EER: `target-nonmember` / `shadow-nonmember` heldout utterances, all
same-speaker pairs vs as many random different-speaker pairs, cosine of the centred embeddings.
Everything is seeded (`--seed`), single process, `torch.set_num_threads(--threads)`.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
from metrics import verification_eer  # noqa: E402
from nets import Centred, LSTMDVector, ResNetASP, XVectorTDNN, count_params, embedding_params  # noqa: E402
import wakeword as W  # noqa: E402

# Per-architecture recipe (the committed models were trained with exactly these).
RECIPES = {
    "tdnn-ce": {
        "net": {"channels": 256, "stats_channels": 768, "emb_dim": 256, "dropout": 0.0, "emb_layer": "seg7"},
        "loss": "softmax cross-entropy",
        "epochs": 20, "lr": 2e-3, "weight_decay": 1e-4, "batch": 64, "crop_frames": 150,
        "speeds": [0.9, 1.0, 1.1], "specaug": True,
    },
    "resnet-aam": {
        "net": {"widths": [12, 24, 48, 96], "blocks": [2, 2, 2, 2], "emb_dim": 192, "margin": 0.2, "scale": 30.0},
        "loss": "additive angular margin softmax (m=0.2, s=30)",
        "epochs": 15, "lr": 2e-3, "weight_decay": 1e-4, "batch": 64, "crop_frames": 120,
        "speeds": [1.0], "specaug": True,
    },
    "lstm-ge2e": {
        "net": {"hidden": 256, "layers": 3, "emb_dim": 256},
        "loss": "GE2E softmax (10 speakers x 5 utterances per batch)",
        "epochs": 20, "lr": 1e-3, "weight_decay": 0.0, "batch": 50, "crop_frames": 100,
        "speeds": [1.0], "specaug": True,
        # thousands of tiny per-frame ops: OpenMP with 2 threads is 10x slower than 1 on a shared machine
        "threads": 1,
    },
    # the wake-word family: fixed 40-frame log-mel windows (wakeword.py), no CMN, utterance = mean of windows
    "cnn-dvector": {
        "net": {"channels": [16, 32, 64], "emb_dim": 128, "dropout": 0.1},
        "loss": "softmax cross-entropy",
        "epochs": 30, "lr": 3e-3, "weight_decay": 1e-4, "batch": 64, "crop_frames": W.WINDOW_FRAMES,
        "crops_per_epoch": 2, "speeds": [0.9, 1.0, 1.1], "specaug": True, "specaug_freq": 5, "specaug_time": 6,
        "features": "log-mel", "window_l2": False,
        # many small convolutions: 1 thread is several times faster than 2 on the shared machine
        "threads": 1,
    },
}
GROUPS = {"target": ("target-member", "target-nonmember"), "shadow": ("shadow-member", "shadow-nonmember")}


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build(arch: str, n_classes: int, recipe: dict):
    cfg = recipe["net"]
    if arch == "tdnn-ce":
        return XVectorTDNN(n_classes, **cfg)
    if arch == "resnet-aam":
        return ResNetASP(n_classes, widths=tuple(cfg["widths"]), blocks=tuple(cfg["blocks"]), emb_dim=cfg["emb_dim"],
                         margin=cfg["margin"], scale=cfg["scale"])
    if arch == "lstm-ge2e":
        return LSTMDVector(n_classes, **cfg)
    if arch == "cnn-dvector":
        return W.CNNDVector(n_classes, channels=tuple(cfg["channels"]), emb_dim=cfg["emb_dim"], dropout=cfg["dropout"])
    raise SystemExit(f"unknown --arch {arch}; choose one of {', '.join(RECIPES)}")


def crop(feat: torch.Tensor, frames: int, gen: torch.Generator, cmn: bool = True) -> torch.Tensor:
    """Random fixed-length crop (tiled when the utterance is shorter), then CMN over the crop (fbank models)."""
    n = feat.shape[0]
    if n < frames:
        feat = feat.repeat((frames + n - 1) // n, 1)
        n = feat.shape[0]
    start = int(torch.randint(0, n - frames + 1, (1,), generator=gen))
    out = feat[start:start + frames]
    return D.cmn(out) if cmn else out


def spec_augment(x: torch.Tensor, gen: torch.Generator, max_f: int = 8, max_t: int = 10) -> torch.Tensor:
    """SpecAugment-lite on a `[B, T, bins]` batch: one frequency mask (≤ max_f bins) and one time mask (≤ max_t
    frames), set to 0."""
    x = x.clone()
    B, T, Fb = x.shape
    for b in range(B):
        f = int(torch.randint(0, max_f + 1, (1,), generator=gen)); f0 = int(torch.randint(0, Fb - f + 1, (1,), generator=gen))
        t = int(torch.randint(0, max_t + 1, (1,), generator=gen)); t0 = int(torch.randint(0, T - t + 1, (1,), generator=gen))
        x[b, :, f0:f0 + f] = 0
        x[b, t0:t0 + t, :] = 0
    return x


@torch.no_grad()
def embed_all(net, feats: list, batch: int = 64) -> torch.Tensor:
    """Embeddings of whole utterances (CMN over each), batched by equal frame count (no padding); for the
    fixed-window family `feats` are window stacks and the embedding is the mean of the window d-vectors."""
    if isinstance(net, W.CNNDVector):
        return W.embed_utterances(net, feats)
    net.eval()
    out = [None] * len(feats)
    by_len: dict = {}
    for i, f in enumerate(feats):
        by_len.setdefault(f.shape[0], []).append(i)
    for idx in by_len.values():
        for k in range(0, len(idx), batch):
            part = idx[k:k + batch]
            emb = net.embed(torch.stack([D.cmn(feats[i]) for i in part]))
            for j, i in enumerate(part):
                out[i] = emb[j]
    return torch.stack(out)


def train(net, arch: str, recipe: dict, feats: list, labels: list, n_classes: int, epochs: int, seed: int, log,
          probe=None, eval_every: int = 0):
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in net.parameters()]
    opt = torch.optim.Adam(params, lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    n = len(feats)
    bs, frames = recipe["batch"], recipe["crop_frames"]
    if arch == "lstm-ge2e":
        n_spk, n_utt = min(10, n_classes), 5
        steps_per_epoch = max(1, n // (n_spk * n_utt))
        by_spk = [[i for i in range(n) if labels[i] == c] for c in range(n_classes)]
    else:
        steps_per_epoch = (n * recipe.get("crops_per_epoch", 1) + bs - 1) // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe["lr"], total_steps=epochs * steps_per_epoch,
                                                pct_start=0.15)
    history = []
    for epoch in range(epochs):
        net.train()
        t0, tot_loss, tot_acc, steps = time.time(), 0.0, 0.0, 0
        order = sum((torch.randperm(n, generator=gen).tolist() for _ in range(recipe.get("crops_per_epoch", 1))), [])
        for step in range(steps_per_epoch):
            if arch == "lstm-ge2e":
                spk = torch.randperm(n_classes, generator=gen)[:n_spk].tolist()
                idx = []
                for c in spk:
                    pool = by_spk[c]
                    idx += [pool[j] for j in torch.randperm(len(pool), generator=gen)[:n_utt].tolist()]
            else:
                idx = order[step * bs:(step + 1) * bs]
            cmn = recipe.get("features", "kaldi-fbank") == "kaldi-fbank"
            x = torch.stack([crop(feats[i], frames, gen, cmn) for i in idx])
            if recipe["specaug"]:
                x = spec_augment(x, gen, recipe.get("specaug_freq", 8), recipe.get("specaug_time", 10))
            emb = net.embed(x)
            if arch == "lstm-ge2e":
                loss, acc = net.ge2e_loss(emb, n_spk, n_utt)
            else:
                y = torch.tensor([labels[i] for i in idx])
                logits = net.logits(emb, y)
                loss = F.cross_entropy(logits, y)
                acc = (logits.argmax(1) == y).float().mean().item()
            opt.zero_grad()
            loss.backward()
            if arch == "lstm-ge2e":
                torch.nn.utils.clip_grad_norm_(params, 3.0)
            opt.step()
            sched.step()
            tot_loss += loss.item(); tot_acc += acc; steps += 1
        history.append({"epoch": epoch + 1, "loss": round(tot_loss / steps, 4), "accuracy": round(tot_acc / steps, 4),
                        "seconds": round(time.time() - t0, 1)})
        log(f"epoch {epoch + 1}/{epochs} loss {tot_loss / steps:.4f} acc {tot_acc / steps:.3f} "
            f"({time.time() - t0:.1f}s)")
        if probe and eval_every and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs):
            history[-1]["probe"] = probe(net)
            log(f"  probe: {history[-1]['probe']}")
    return history


@torch.no_grad()
def train_accuracy(net, arch: str, feats: list, labels: list, n_classes: int) -> float:
    """Eval-mode accuracy on the whole training utterances: classifier argmax (CE/AAM, no margin), or
    nearest speaker centroid for GE2E."""
    emb = embed_all(net, feats)
    y = torch.tensor(labels)
    if arch == "lstm-ge2e":
        e = F.normalize(emb, dim=1)
        cent = F.normalize(torch.stack([e[y == c].mean(0) for c in range(n_classes)]), dim=1)
        pred = (e @ cent.T).argmax(1)
    else:
        pred = net.logits(emb, None).argmax(1)
    return float((pred == y).float().mean())


def export(wrapper, out_dir: str, name: str, arch: str, role: str, emb_dim: int, recipe: dict) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    onnx_path = os.path.join(out_dir, "model.onnx")
    wrapper.eval()
    windowed = recipe.get("features") == "log-mel"
    if windowed:
        # fixed window: only the batch axis is dynamic, as on a device (`[N, 40, 40, 1]`)
        torch.onnx.export(
            wrapper, torch.rand(2, W.WINDOW_FRAMES, 40, 1), onnx_path, input_names=["logmel"],
            output_names=["embedding"], dynamic_axes={"logmel": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=13,
        )
    else:
        torch.onnx.export(
            wrapper, torch.randn(2, 150, 80), onnx_path, input_names=["fbank"], output_names=["embedding"],
            dynamic_axes={"fbank": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}}, opset_version=13,
        )
    manifest = {
        "name": name,
        "onnx": "model.onnx",
        "sha256": D.file_sha256(onnx_path),
        "architecture": arch,
        "role": role,
        "sample_rate": D.SAMPLE_RATE,
        "frontend": W.FRONTEND if windowed else D.FRONTEND,
        "input": {"name": "logmel", "layout": "batch,frames,mel,1"} if windowed
        else {"name": "fbank", "layout": "batch,frames,mel"},
        "output": {"name": "embedding"},
        **({"window": {"frames": W.WINDOW_FRAMES, "hop": W.WINDOW_HOP, "l2_normalize": recipe["window_l2"]}}
           if windowed else {}),
        "embedding_dim": emb_dim,
        # windowed: 32 voices of 2 s are 96 windows, one query
        "max_batch": 128 if windowed else 64,
        "min_seconds": 0.3,
        "max_seconds": 30,
        "l2_normalize": False,
        "similarity": "cosine",
        "card": "card.json",
    }
    write_json(os.path.join(out_dir, "model.json"), manifest)
    return manifest


def write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def onnx_check(manifest_path: str, wrapper, clips: list, eval_files: list, dim: int, window_l2: bool = False) -> tuple:
    """Run models/train/check_onnx.mts (onnxruntime-node through the project's TS adapter).

    Returns (result dict, ORT pipeline embeddings of eval_files `[n, dim]` or None)."""
    with tempfile.TemporaryDirectory(dir=D.work_dir()) as tmp:
        req = {"manifest": os.path.abspath(manifest_path), "clips": []}
        with torch.no_grad():
            for u in clips if wrapper is not None else []:
                if isinstance(wrapper, W.ExportedDVector):
                    # every window of the clip; the pipeline's embedding is their mean (manifest window)
                    x = W.window_features(D.load_wave(u.path)).unsqueeze(-1)
                    rows = wrapper(x)
                    if window_l2:
                        rows = F.normalize(rows, dim=1)
                    pooled = rows.mean(0)
                else:
                    x = D.cmn(D.fbank_raw(D.load_wave(u.path))).unsqueeze(0)
                    rows = wrapper(x)
                    pooled = rows[0]
                req["clips"].append({"path": u.path, "inputs": [xi.flatten().tolist() for xi in x],
                                     "dims": list(x.shape[1:]), "rows": rows.tolist(), "torch": pooled.tolist()})
        if eval_files:
            req["eval_files"] = eval_files
            req["eval_out"] = os.path.join(tmp, "eval.f32")
        write_json(os.path.join(tmp, "req.json"), req)
        res_path = os.path.join(tmp, "res.json")
        tsx = os.path.join(D.ROOT, "node_modules", ".bin", "tsx")
        subprocess.run([tsx, os.path.join(D.ROOT, "models", "train", "check_onnx.mts"), os.path.join(tmp, "req.json"),
                        res_path], check=True, cwd=D.ROOT, env={**os.environ, "SLMIA_ORT_THREADS": "2"})
        res = json.load(open(res_path))
        ort_emb = np.fromfile(req["eval_out"], dtype="<f4").reshape(-1, dim) if eval_files else None
    return res, ort_emb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=list(RECIPES))
    ap.add_argument("--role", required=True, choices=list(GROUPS))
    ap.add_argument("--epochs", type=int, help="override the recipe's epochs")
    ap.add_argument("--speakers", type=int, help="use only the first K speakers of each group (smoke runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, help="torch threads (default: the recipe's, else 2)")
    ap.add_argument("--out", help="output folder (default models/<arch>-<role>)")
    ap.add_argument("--set", action="append", default=[], help="recipe override key=json (experiments)")
    ap.add_argument("--checkpoint", help="export this checkpoint of the same recipe instead of training")
    ap.add_argument("--eval-every", type=int, default=0, help="log the non-member EER every N epochs (experiments)")
    ap.add_argument("--no-onnx-check", action="store_true", help="skip the onnxruntime-node check (needs npm ci)")
    args = ap.parse_args()

    recipe = json.loads(json.dumps(RECIPES[args.arch]))
    args.threads = args.threads or recipe.get("threads", 2)
    torch.set_num_threads(args.threads)
    for kv in args.set:
        k, v = kv.split("=", 1)
        tgt = recipe["net"] if k.startswith("net.") else recipe
        tgt[k.split(".")[-1]] = json.loads(v)
    epochs = args.epochs or recipe["epochs"]
    name = f"{args.arch}-{args.role}"
    out_dir = args.out or os.path.join(D.ROOT, "models", name)
    log_lines = []

    def log(msg: str) -> None:
        print(msg, flush=True)
        log_lines.append(msg)

    seed_all(args.seed)
    t_start = time.time()
    member_group, nonmember_group = GROUPS[args.role]
    utts = D.load_split()
    train_utts = D.select(utts, member_group, "train")
    eval_utts = D.select(utts, nonmember_group, "heldout")
    if args.speakers:
        keep = sorted({u.speaker for u in train_utts})[:args.speakers]
        train_utts = [u for u in train_utts if u.speaker in keep]
        keep_eval = sorted({u.speaker for u in eval_utts})[:args.speakers]
        eval_utts = [u for u in eval_utts if u.speaker in keep_eval]
    speakers = sorted({u.speaker for u in train_utts})
    spk_index = {s: i for i, s in enumerate(speakers)}
    log(f"{name}: {len(train_utts)} training utterances of {len(speakers)} {member_group} speakers; "
        f"EER on {len(eval_utts)} {nonmember_group} heldout utterances")

    windowed = recipe.get("features") == "log-mel"
    feats, labels = [], []
    for speed in recipe["speeds"]:
        feats += W.cached_features(train_utts, speed) if windowed else D.cached_fbanks(train_utts, speed)
        labels += [spk_index[u.speaker] for u in train_utts]
    # evaluation inputs: whole clips (fbank), or each clip's windows as the TS adapter cuts them (log-mel)
    plain_train = W.cached_windows(train_utts) if windowed else D.cached_fbanks(train_utts, 1.0)
    eval_feats = W.cached_windows(eval_utts) if windowed else D.cached_fbanks(eval_utts, 1.0)
    log(f"features ready ({time.time() - t_start:.1f}s)")

    def utterances(model, feats_, mean_):
        """Centred utterance embeddings as the deployed pipeline computes them."""
        if windowed:
            return W.embed_utterances(model, feats_, mean_, recipe["window_l2"])
        return embed_all(model, feats_) - mean_

    seed_all(args.seed)
    net = build(args.arch, len(speakers), recipe)
    t_train = time.time()
    eval_speakers = [u.speaker for u in eval_utts]

    def probe(model) -> dict:
        """Non-member EER (centred) of the current weights; for tdnn-ce both seg6 and seg7 embeddings."""
        out = {}
        layers = ["seg6", "seg7"] if args.arch == "tdnn-ce" else [None]
        keep = getattr(model, "emb_layer", None)
        for layer in layers:
            if layer:
                model.emb_layer = layer
            m = embed_all(model, plain_train).mean(0)
            out[layer or "eer"] = round(verification_eer(utterances(model, eval_feats, m).numpy(), eval_speakers)["eer"], 4)
        if keep:
            model.emb_layer = keep
        return out

    if args.checkpoint:
        ckpt = torch.load(args.checkpoint)
        if ckpt["recipe"] != recipe or ckpt["epochs"] != epochs or ckpt["seed"] != args.seed:
            raise SystemExit(f"{args.checkpoint}: trained with another recipe/epochs/seed")
        net.load_state_dict(ckpt["state_dict"])
        history, train_seconds = ckpt["history"], ckpt["train_seconds"]
        log(f"loaded {args.checkpoint} (trained in {train_seconds:.0f}s)")
    else:
        history = train(net, args.arch, recipe, feats, labels, len(speakers), epochs, args.seed, log, probe,
                        args.eval_every)
        train_seconds = time.time() - t_train
        torch.save({"state_dict": net.state_dict(), "history": history, "recipe": recipe, "epochs": epochs,
                    "seed": args.seed, "train_seconds": train_seconds},
                   os.path.join(D.work_dir(), f"{os.path.basename(out_dir)}.ckpt.pt"))

    train_labels = [spk_index[u.speaker] for u in train_utts]
    acc = train_accuracy(net, args.arch, plain_train, train_labels, len(speakers))
    mean = embed_all(net, plain_train).mean(0)
    wrapper = (W.ExportedDVector(net, mean) if windowed else Centred(net, mean)).eval()
    eval_emb = utterances(net, eval_feats, mean)
    ver = verification_eer(eval_emb.numpy(), eval_speakers)
    raw = verification_eer(utterances(net, eval_feats, torch.zeros_like(mean)).numpy(), eval_speakers)
    log(f"train accuracy {acc:.3f}; EER {100 * ver['eer']:.2f}% (uncentred {100 * raw['eer']:.2f}%)")

    if args.arch == "lstm-ge2e":
        net.fast = False  # export nn.LSTM (ONNX LSTM op); the ONNX check compares it with the torch embeddings
    manifest = export(wrapper, out_dir, name, args.arch, args.role, net.emb_dim, recipe)
    onnx_path = os.path.join(out_dir, "model.onnx")
    check = {}
    ort_eer = None
    if not args.no_onnx_check:
        clips = [eval_utts[i] for i in range(0, len(eval_utts), max(1, len(eval_utts) // 4))][:4]
        check, ort_emb = onnx_check(os.path.join(out_dir, "model.json"), wrapper, clips,
                                    [u.path for u in eval_utts], net.emb_dim, recipe.get("window_l2", False))
        ort_eer = verification_eer(ort_emb, eval_speakers)["eer"]
        log(f"onnx max abs diff {check['onnx_max_abs_diff']:.2e}, TS pipeline {check['pipeline_max_abs_diff']:.2e}, "
            f"EER via onnxruntime {100 * ort_eer:.2f}%")

    card = {
        "name": name,
        "architecture": args.arch,
        "role": args.role,
        "loss": recipe["loss"],
        "parameters": embedding_params(net),
        "training_parameters": count_params(net),
        "embedding_dim": net.emb_dim,
        "centred": "mean training " + ("window d-vector" if windowed else "embedding") + " subtracted inside the ONNX graph",
        "recipe": recipe,
        "training_group": member_group,
        "training_speakers": speakers,
        "training_utterances": len(train_utts),
        "split_file": os.path.relpath(D.split_file(), D.data_dir()),
        "split_sha256": D.file_sha256(D.split_file()),
        "seed": args.seed,
        "epochs": epochs,
        "augmentation": (["speed perturbation " + "/".join(str(s) for s in recipe["speeds"])] if len(recipe["speeds"]) > 1 else [])
        + ([f"SpecAugment (1 freq mask <= {recipe.get('specaug_freq', 8)} bins, 1 time mask <= "
            f"{recipe.get('specaug_time', 10)} frames)"] if recipe["specaug"] else [])
        + [f"random {recipe['crop_frames']}-frame crops" + ("" if windowed else " with per-crop CMN")
           + (f", {recipe['crops_per_epoch']} per clip and epoch" if recipe.get("crops_per_epoch", 1) > 1 else "")],
        **({"frontend": W.FRONTEND, "window": {"frames": W.WINDOW_FRAMES, "hop": W.WINDOW_HOP,
                                               "samples": W.WINDOW_SAMPLES, "hop_samples": W.HOP_SAMPLES,
                                               "utterance_embedding": "mean of the window d-vectors"
                                               + (" (each L2-normalised)" if recipe["window_l2"] else "")}}
           if windowed else {}),
        "final_train_loss": history[-1]["loss"],
        "final_train_batch_accuracy": history[-1]["accuracy"],
        "train_accuracy": round(acc, 4),
        "verification": {
            "trials_group": nonmember_group,
            "role": "heldout",
            "speakers": len(set(eval_speakers)),
            "utterances": len(eval_utts),
            "same_speaker_trials": ver["same_speaker_trials"],
            "different_speaker_trials": ver["different_speaker_trials"],
            "similarity": "cosine",
            "eer": round(ver["eer"], 4),
            "eer_uncentred": round(raw["eer"], 4),
            "eer_onnxruntime": None if ort_eer is None else round(ort_eer, 4),
        },
        "onnx_sha256": manifest["sha256"],
        "onnx_bytes": os.path.getsize(onnx_path),
        "onnx_opset": 13,
        "torch_vs_onnxruntime_max_abs_diff": check.get("onnx_max_abs_diff"),
        "torch_vs_ts_pipeline_max_abs_diff": check.get("pipeline_max_abs_diff"),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.time() - t_start, 1),
        "threads": args.threads,
        "torch": torch.__version__,
        "history": history,
    }
    write_json(os.path.join(out_dir, "card.json"), card)
    log(f"wrote {out_dir} ({card['onnx_bytes'] / 1e6:.2f} MB, {card['parameters']} parameters, "
        f"{card['total_seconds']:.0f}s)")


if __name__ == "__main__":
    main()
