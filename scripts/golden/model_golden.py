#!/usr/bin/env python3
"""Reference logits and greedy continuations of SmolLM2-135M-Instruct (GGUF Q4_1)
for tests/unit/test_model_smollm2.cpp, computed with code that is not lexico's:
Hugging Face transformers reads the GGUF file (tensors dequantized by the `gguf`
package, Q/K rows un-permuted by transformers) and runs its own LlamaForCausalLM
forward in float32 with PyTorch on the CPU.

Prompts are given as token ids (tokenized once with Hugging Face `tokenizers`
from shared/tokenizers/smollm2-135m/tokenizer.json; the texts are kept for
reading), so no tokenizer is involved in the comparison.

The full 49,152 logits of 3 prompts would be 600 KB; the golden keeps the first
2,048 logits, the top 50 (ids and values), and the sum and L2 norm of the whole
vector.

Usage (PyPI packages: torch, transformers, accelerate, gguf, numpy):
  scripts/fetch-model
  python3 scripts/golden/model_golden.py [models/SmolLM2-135M-Instruct.Q4_1.gguf] \
      > data/golden/model_smollm2_logits.json
"""
import hashlib
import importlib.metadata
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM

HEAD = 2048
TOP = 50
STEPS = 64

# (text, ids): the ids are tokenizer.json's encoding of the text, no BOS
# (SmolLM2 adds none).
PROMPTS = [
    ("The capital of France is",
     [504, 3575, 282, 4649, 314]),
    ("Once upon a time, there was a little robot who",
     [6403, 1980, 253, 655, 28, 665, 436, 253, 1838, 8085, 617]),
    ("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
     [1, 4093, 198, 1780, 314, 216, 34, 27, 34, 47, 2, 198, 1, 520, 9531, 198]),
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rounded(xs):
    return [round(float(x), 5) for x in xs]


@torch.no_grad()
def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path), dtype=torch.float32)
    model.eval()

    prompts = []
    for text, ids in PROMPTS:
        out = model(torch.tensor([ids]), use_cache=True)
        logits = out.logits[0, -1].double().numpy()
        top = np.argsort(-logits, kind="stable")[:TOP]
        # Greedy decoding, token by token through the KV cache; the smallest
        # top-1/top-2 gap on the way says how safe an exact comparison is.
        past, step_logits, greedy, margins = out.past_key_values, out.logits[0, -1], [], []
        for _ in range(STEPS):
            s = torch.sort(step_logits, descending=True).values
            margins.append(float(s[0] - s[1]))
            nxt = int(torch.argmax(step_logits))
            greedy.append(nxt)
            out = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
            past, step_logits = out.past_key_values, out.logits[0, -1]
        prompts.append({
            "text": text,
            "ids": ids,
            "logits_head": rounded(logits[:HEAD]),
            "top_ids": [int(i) for i in top],
            "top_logits": rounded(logits[top]),
            "logits_sum": float(logits.sum()),
            "logits_norm": float(np.linalg.norm(logits)),
            "greedy": greedy,
            "greedy_min_margin": min(margins),
        })
        print(f"model_golden: {text!r}: top {int(top[0])}, min greedy margin {min(margins):.4f}", file=sys.stderr)

    json.dump({
        "format": "lexico-model-golden",
        "version": 1,
        "model": os.path.basename(path),
        "model_sha256": sha256(path),
        "reference": f"transformers {transformers.__version__}, torch {torch.__version__} (float32, CPU), "
                     f"gguf {importlib.metadata.version('gguf')}",
        "prompts": prompts,
    }, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
