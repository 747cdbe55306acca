#!/usr/bin/python3
"""Int8 variant of an exported speaker model: weight-only int8 (QDQ weights).

    /usr/bin/python3 models/train/quantize_int8.py [--src models/tdnn-ce-target] [--out models/tdnn-ce-target-int8]

Every float weight of a Conv / Gemm / MatMul (rank ≥ 2) becomes an int8 initializer with a per-output-channel
symmetric scale (zero point 0) and a `DequantizeLinear` node (opset 13, `axis` = output channel) in front of
its consumer; biases, BatchNorm statistics and the centring mean stay float32. onnxruntime dequantizes the
weights once at session start, so inference runs in float32 on int8-stored weights (file ≈ 1/4 of fp32).
The variant is measured the same way as the fp32 model: EER of onnxruntime-node embeddings (TS front-end) on
the same non-member heldout trials, plus the max abs difference to the fp32 model on those clips.
Needs python3-onnx (`make models-deps`).
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
from metrics import verification_eer  # noqa: E402
from train import GROUPS, onnx_check, write_json  # noqa: E402

WEIGHT_OPS = {"Conv": 1, "Gemm": 1, "MatMul": 1}  # op → index of the weight input


def quantize(model: onnx.ModelProto) -> tuple:
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    targets = {}
    for node in graph.node:
        k = WEIGHT_OPS.get(node.op_type)
        if k is None or len(node.input) <= k or node.input[k] not in inits:
            continue
        w = numpy_helper.to_array(inits[node.input[k]])
        if w.ndim < 2 or w.dtype != np.float32:
            continue
        # output channel: dim 0 for Conv and Gemm(transB=1); last dim for MatMul / Gemm(transB=0)
        axis = 0
        if node.op_type == "MatMul":
            axis = w.ndim - 1
        elif node.op_type == "Gemm":
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            axis = 0 if trans_b else 1
        targets[node.input[k]] = (w, axis)
    new_nodes, n_weights = [], 0
    for name, (w, axis) in targets.items():
        red = tuple(d for d in range(w.ndim) if d != axis)
        scale = np.maximum(np.abs(w).max(axis=red), 1e-12) / 127.0
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        graph.initializer.remove(inits[name])
        graph.initializer.extend([
            numpy_helper.from_array(q, f"{name}_int8"),
            numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale"),
            numpy_helper.from_array(np.zeros(scale.shape, np.int8), f"{name}_zero_point"),
        ])
        new_nodes.append(helper.make_node("DequantizeLinear", [f"{name}_int8", f"{name}_scale", f"{name}_zero_point"],
                                          [name], name=f"{name}_dequantize", axis=axis))
        n_weights += w.size
    nodes = new_nodes + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    # drop stale value_info of the replaced initializers (they are node outputs now)
    onnx.checker.check_model(model)
    return model, len(targets), n_weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=os.path.join(D.ROOT, "models", "tdnn-ce-target"))
    ap.add_argument("--out")
    ap.add_argument("--speakers", type=int, help="evaluate on the first K non-member speakers only (smoke)")
    args = ap.parse_args()
    src = os.path.abspath(args.src)
    out = os.path.abspath(args.out or src + "-int8")
    os.makedirs(out, exist_ok=True)
    manifest = json.load(open(os.path.join(src, "model.json")))
    card = json.load(open(os.path.join(src, "card.json")))

    model, n_tensors, n_weights = quantize(onnx.load(os.path.join(src, manifest["onnx"])))
    onnx_path = os.path.join(out, "model.onnx")
    onnx.save(model, onnx_path)
    name = os.path.basename(out)
    q_manifest = {**manifest, "name": name, "onnx": "model.onnx", "sha256": D.file_sha256(onnx_path)}
    q_manifest["card"] = "card.json"
    write_json(os.path.join(out, "model.json"), q_manifest)

    nonmember = GROUPS[manifest["role"]][1]
    eval_utts = D.select(D.load_split(), nonmember, "heldout")
    if args.speakers:
        keep = sorted({u.speaker for u in eval_utts})[:args.speakers]
        eval_utts = [u for u in eval_utts if u.speaker in keep]
    files = [u.path for u in eval_utts]
    speakers = [u.speaker for u in eval_utts]
    dim = manifest["embedding_dim"]
    _, fp32_emb = onnx_check(os.path.join(src, "model.json"), None, [], files, dim)
    _, int8_emb = onnx_check(os.path.join(out, "model.json"), None, [], files, dim)
    fp32 = verification_eer(fp32_emb, speakers)
    int8 = verification_eer(int8_emb, speakers)
    fp32_bytes = os.path.getsize(os.path.join(src, manifest["onnx"]))
    q_bytes = os.path.getsize(onnx_path)
    cos = np.sum(fp32_emb * int8_emb, 1) / (np.linalg.norm(fp32_emb, axis=1) * np.linalg.norm(int8_emb, axis=1))
    q_card = {**card}
    q_card.update({
        "name": name,
        "onnx_sha256": q_manifest["sha256"],
        "onnx_bytes": q_bytes,
        "torch_vs_onnxruntime_max_abs_diff": None,
        "torch_vs_ts_pipeline_max_abs_diff": None,
        "quantization": {
            "method": "weight-only int8: per-output-channel symmetric int8 weights + DequantizeLinear (QDQ), "
                      "float32 compute",
            "quantized_tensors": n_tensors,
            "quantized_weights": int(n_weights),
            "fp32_model": os.path.basename(src),
            "fp32_sha256": manifest["sha256"],
            "fp32_bytes": fp32_bytes,
            "size_ratio": round(q_bytes / fp32_bytes, 4),
            "fp32_eer": round(fp32["eer"], 4),
            "int8_vs_fp32_max_abs_diff": float(np.abs(fp32_emb - int8_emb).max()),
            "int8_vs_fp32_min_cosine": float(cos.min()),
        },
    })
    q_card["verification"] = {**card["verification"], "eer": round(int8["eer"], 4),
                              "eer_uncentred": None, "eer_onnxruntime": round(int8["eer"], 4),
                              "utterances": len(files), "speakers": len(set(speakers)),
                              "same_speaker_trials": int8["same_speaker_trials"],
                              "different_speaker_trials": int8["different_speaker_trials"]}
    write_json(os.path.join(out, "card.json"), q_card)
    print(f"wrote {out}: {q_bytes / 1e6:.2f} MB ({100 * q_bytes / fp32_bytes:.1f}% of fp32), "
          f"EER {100 * int8['eer']:.2f}% (fp32 {100 * fp32['eer']:.2f}%), max |int8 - fp32| "
          f"{q_card['quantization']['int8_vs_fp32_max_abs_diff']:.3g}")


if __name__ == "__main__":
    main()
