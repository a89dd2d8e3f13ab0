#!/usr/bin/env python3
"""Summarise bench/results/paper1d_*.jsonl as a Markdown table (mean and std over seeds)."""
import json, math, os, sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")

def load(name):
    path = os.path.join(out, f"paper1d_{name}.jsonl")
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip()]

def stat(vals):
    if not vals:
        return "-"
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / len(vals))
    return f"{m:.4f} ± {sd:.4f}"

print("| run | seeds | EBM NLL (grid) | proposal NLL | EBM NLL (IS, --logpdf) | mean abs(IS - grid) | train s |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for name in ["reference", "defaults"]:
    rows = load(name)
    if rows:
        print(f"| ebm, {name} setting | {len(rows)} | {stat([r['test_nll_ebm_grid'] for r in rows])} | "
              f"{stat([r['test_nll_proposal'] for r in rows])} | {stat([r['test_nll_ebm_is'] for r in rows])} | "
              f"{stat([r['mean_abs_is_minus_grid'] for r in rows])} | {stat([r['train_seconds'] for r in rows])} |")
rows = load("torch")
if rows:
    print(f"| PyTorch reference loop | {len(rows)} | {stat([r['test_nll_ebm_grid'] for r in rows])} | "
          f"{stat([r['test_nll_mdn'] for r in rows])} | - | - | {stat([r['train_seconds'] for r in rows])} |")
