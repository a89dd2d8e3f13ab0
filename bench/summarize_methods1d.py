#!/usr/bin/env python3
"""Summarise bench/results/methods1d.jsonl (bench/methods1d.sh) as Markdown tables:
per setting and dataset, KL(ground truth || EBM) on the paper's grid for every method,
mean ± std over seeds (numpy-style std, ddof = 0), min and max, the two halves of dataset 1,
the proposal's KL, and the training time."""
import json, math, os, sys

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results", "methods1d.jsonl")
rows = [json.loads(l) for l in open(path) if l.strip()]
METHODS = ["ml-is", "kld-is", "ml-mcmc", "nce", "nce+", "dsm", "sm"]


def stat(vals, digits=3):
    if not vals:
        return "-"
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / len(vals))
    return f"{m:.{digits}f} ± {sd:.{digits}f}"


for setting in ["paper", "defaults", "defaults-tanh", "defaults-relative"]:
    for dataset in [1, 2]:
        sel = [r for r in rows if r["setting"] == setting and r["dataset"] == dataset]
        if not sel:
            continue
        print(f"\n**Dataset {dataset}, {setting} settings**\n")
        head = "| method | seeds | KL (mean ± std) | min | max |"
        sep = "| --- | --- | --- | --- | --- |"
        if dataset == 1:
            head += " KL x < 0 (bimodal) | KL x ≥ 0 (log-normal) |"
            sep += " --- | --- |"
        head += " proposal KL | train s |"
        sep += " --- | --- |"
        print(head)
        print(sep)
        gauss = None
        for method in METHODS:
            rs = [r for r in sel if r["method"] == method]
            if not rs:
                continue
            kl = [r["kl"] for r in rs]
            line = f"| {method} | {len(rs)} | {stat(kl)} | {min(kl):.3f} | {max(kl):.3f} |"
            if dataset == 1:
                line += f" {stat([r['kl_x_neg'] for r in rs])} | {stat([r['kl_x_pos'] for r in rs])} |"
            line += f" {stat([r['kl_proposal'] for r in rs])} | {stat([r['train_seconds'] for r in rs], 0)} |"
            print(line)
            gauss = rs[0]
        if gauss is not None:
            line = f"| moment-matched Gaussian | - | {gauss['kl_gaussian']:.3f} | - | - |"
            if dataset == 1:
                line += f" {gauss['kl_gaussian_x_neg']:.3f} | {gauss['kl_gaussian_x_pos']:.3f} |"
            print(line + " - | - |")
