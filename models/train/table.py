#!/usr/bin/python3
"""Print the models/README.md table from the committed cards: `/usr/bin/python3 models/train/table.py`."""
import json
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
NAMES = ["tdnn-ce-target", "tdnn-ce-shadow", "resnet-aam-target", "resnet-aam-shadow", "lstm-ge2e-target",
         "lstm-ge2e-shadow", "cnn-dvector-target", "cnn-dvector-shadow", "tdnn-ce-target-int8",
         "cnn-dvector-target-int8"]


def main() -> None:
    print("| model | architecture / loss | parameters | ONNX size | train acc | EER (non-member heldout) "
          "| torch vs ORT max abs diff | train time (shared 2-core machine) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in NAMES:
        path = os.path.join(ROOT, "models", name, "card.json")
        if not os.path.exists(path):
            continue
        c = json.load(open(path))
        v = c["verification"]
        q = c.get("quantization")
        diff = (f"{c['torch_vs_onnxruntime_max_abs_diff']:.1e}" if c["torch_vs_onnxruntime_max_abs_diff"] is not None
                else f"vs fp32: {q['int8_vs_fp32_max_abs_diff']:.1e}")
        size = f"{c['onnx_bytes'] / 1e6:.2f} MB" + (f" ({100 * q['size_ratio']:.0f}% of fp32)" if q else "")
        eer = f"{100 * v['eer']:.2f}%" + (f" (fp32 {100 * q['fp32_eer']:.2f}%)" if q else "")
        arch = c["architecture"] + (" int8 weights" if q else "")
        print(f"| `{name}` | {arch} / {c['loss']} | {c['parameters'] / 1e6:.2f} M | {size} | "
              f"{100 * c['train_accuracy']:.1f}% | {eer} ({v['trials_group']}) | {diff} | "
              f"{c['train_seconds'] / 60:.1f} min |")


if __name__ == "__main__":
    main()
