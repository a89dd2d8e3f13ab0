#!/usr/bin/env python3
"""The computation `ebm-predict --samples M --interval 0.9` does, in PyTorch, for timing
beside it: for each row, M draws from the MDN proposal, their energies, self-normalised
importance weights, and the weighted mean, standard deviation and central 90% interval.
The network is the reference loop's (../shared/bench/ref_torch_ebmdn.py, imported, not
copied), untrained: the cost does not depend on the weights.
  torch_predict.py DATA.csv [--hidden 10] [--K 4] [--M 1024] [--threads 2] [--chunk 256]
DATA.csv: header, feature columns, last column y (ignored). Prints JSON with rows/s."""
import argparse, json, os, sys, time

import torch

REF_DIR = os.environ.get("EBM_REF_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench"))
sys.path.insert(0, REF_DIR)
from ref_torch_ebmdn import Net, load, mdn_logq  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--hidden", type=int, default=10); ap.add_argument("--K", type=int, default=4)
    ap.add_argument("--M", type=int, default=1024); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=256); ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
    x, _ = load(a.data)
    net = Net(x.shape[1], a.hidden, a.K)
    lo_q, hi_q = 0.05, 0.95
    start = time.perf_counter()
    outputs = []
    with torch.no_grad():
        for i in range(0, len(x), a.chunk):
            xb = x[i:i + a.chunk]
            hx = net.fx(xb)
            mu, ls, w = net.mdn(hx)
            comp = torch.multinomial(w, a.M, replacement=True)
            ys = torch.gather(mu, 1, comp) + torch.exp(0.5 * torch.gather(ls, 1, comp)) * torch.randn(len(xb), a.M)
            log_w = net.energy(hx, ys) - mdn_logq(mu, ls, w, ys)
            weights = torch.softmax(log_w, 1)
            mean = (weights * ys).sum(1)
            std = torch.sqrt((weights * (ys - mean.unsqueeze(1)) ** 2).sum(1))
            order = torch.argsort(ys, 1)
            ys_sorted = torch.gather(ys, 1, order)
            cdf = torch.cumsum(torch.gather(weights, 1, order), 1)
            lo = torch.gather(ys_sorted, 1, torch.searchsorted(cdf, torch.full((len(xb), 1), lo_q)).clamp_max(a.M - 1))
            hi = torch.gather(ys_sorted, 1, torch.searchsorted(cdf, torch.full((len(xb), 1), hi_q)).clamp_max(a.M - 1))
            outputs.append(torch.stack([mean, std, lo.squeeze(1), hi.squeeze(1)], 1))
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": len(x), "seconds": round(seconds, 4), "rows_per_second": round(len(x) / seconds, 1),
                      "hidden": a.hidden, "M": a.M, "threads": a.threads}))


if __name__ == "__main__":
    main()
