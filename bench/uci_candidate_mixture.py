#!/usr/bin/env python3
"""Probe (not a default): would mixing --x-embedding auto's two candidates beat keeping one?

For each dataset and split 0..N-1, trains the model without an x-embedding and with the
periodic one (ebm-train defaults otherwise, -j1), predicts the test rows' log-density with
each, and records the test NLL of: each candidate, the one --x-embedding auto keeps (lower
calibrated validation NLL), and the equal mixture of the two; RMSE of the same means.

  python3 bench/uci_candidate_mixture.py BIN SPLITS DATASETS OUT.jsonl ["extra ebm-train args"]

Result of the run in docs/benchmarks.md: bench/results/dev/uci_5splits_candidates_mixture.jsonl.
"""
import csv, json, math, os, subprocess, sys, tempfile, concurrent.futures as cf
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); import uci
B = sys.argv[1]; splits = int(sys.argv[2]); dsets = sys.argv[3].split(','); out = sys.argv[4]
extra = sys.argv[5].split() if len(sys.argv) > 5 else []
def job(name, split):
    header, data, sp = uci.load_dataset(os.environ.get('UCI_DIR', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'uci')), name)
    rows = sp[split]
    with tempfile.TemporaryDirectory() as tmp:
        p = {}
        for role in ('train', 'test'):
            p[role] = os.path.join(tmp, role + '.csv')
            with open(p[role], 'w', newline='') as f:
                w = csv.writer(f); w.writerow(header); [w.writerow(data[r]) for r in rows[role]]
        res = {}
        for emb in ('none', 'periodic'):
            m = os.path.join(tmp, emb + '.json'); pr = os.path.join(tmp, emb + '.csv')
            subprocess.run([B + '/ebm-train', p['train'], '--target', 'y', '-m', m, '-q', '--seed', str(split), '-j1', '--x-embedding', emb] + extra, check=True)
            subprocess.run([B + '/ebm-predict', '-m', m, p['test'], '-o', pr, '--logpdf', '--seed', str(split), '-j1'], check=True)
            with open(pr) as f:
                r = list(csv.DictReader(f))
            ck = json.load(open(m))['results']
            res[emb] = dict(lp=[float(x['log_density']) for x in r], mean=[float(x['y_mean']) for x in r], valid=ck.get('valid_nll_calibrated'))
        y = [float(data[r][-1]) for r in rows['test']]
        def nll(lp): return -sum(lp) / len(lp)
        def rmse(mu): return math.sqrt(sum((a - b) ** 2 for a, b in zip(mu, y)) / len(y))
        a, b = res['none'], res['periodic']
        mix = [max(u, v) + math.log(0.5 * (math.exp(u - max(u, v)) + math.exp(v - max(u, v)))) for u, v in zip(a['lp'], b['lp'])]
        mixmean = [(u + v) / 2 for u, v in zip(a['mean'], b['mean'])]
        auto = a if a['valid'] <= b['valid'] else b
        return dict(dataset=name, split=split, none=nll(a['lp']), periodic=nll(b['lp']), auto=nll(auto['lp']), mix=nll(mix),
                    rmse_none=rmse(a['mean']), rmse_periodic=rmse(b['mean']), rmse_auto=rmse(auto['mean']), rmse_mix=rmse(mixmean),
                    valid_none=a['valid'], valid_periodic=b['valid'])
with cf.ThreadPoolExecutor(2) as ex, open(out, 'a') as f:
    futs = [ex.submit(job, d, s) for d in dsets for s in range(splits)]
    for fu in cf.as_completed(futs):
        r = fu.result(); f.write(json.dumps(r) + '\n'); f.flush(); print(r, flush=True)
