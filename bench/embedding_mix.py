#!/usr/bin/env python3
"""Would an ensemble that mixes the two x-embedding candidates beat keeping one?

An offline estimate, no change to ebm. For each dataset and split, train two ensembles
with the defaults but an explicit --x-embedding (none, then periodic; --seed = split, so
each is bit for bit what --x-embedding auto keeps when it picks that candidate). Each
member is then written to a checkpoint of its own (the shared temperature stays baked
in) and its log p(y|x) on the test rows is predicted. Mixtures of members are formed
offline, p = (1/K) sum_k p_k, which is exactly what ebm-predict reports for a K-member
checkpoint (checked per split: the 3-member mixture must reproduce the ensemble's own
log-density within 1e-3). The winner is the candidate that v9's auto run kept
(x_embedding in --kept FILE).

  python3 bench/embedding_mix.py --build BIN --work DIR --out FILE.jsonl [--datasets a,b] [--splits 0-19]
  python3 bench/embedding_mix.py --summarize FILE.jsonl

Data: ../shared/uci (or UCI_DIR), as bench/uci.py.
"""
import argparse, concurrent.futures as cf, csv, json, math, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uci  # noqa: E402

CANDIDATES = ("none", "periodic")


def log_densities(path):
    with open(path) as f:
        return [float(r["log_density"]) for r in csv.DictReader(f)]


def mixture(columns):
    out = []
    for values in zip(*columns):
        top = max(values)
        out.append(top + math.log(sum(math.exp(v - top) for v in values)) - math.log(len(values)))
    return out


def predict(args, model, test, seed, out):
    subprocess.run([os.path.join(args.build, "ebm-predict"), "-m", model, test, "--logpdf", "--seed", str(seed),
                    "-o", out, "-j", "1"], check=True, stderr=subprocess.DEVNULL)
    return log_densities(out)


def run_candidate(args, base, split, embedding):
    """Trains one candidate's ensemble; returns its log-densities and each member's."""
    model = f"{base}_{embedding}.json"
    done = f"{base}_{embedding}_pred.csv"
    if os.path.exists(done):  # a finished run in --work (re-summarising, or an interrupted run)
        k, members = 0, []
        while os.path.exists(f"{base}_{embedding}_m{k}_pred.csv"):
            members.append(log_densities(f"{base}_{embedding}_m{k}_pred.csv"))
            k += 1
        if members:
            return log_densities(done), members
    subprocess.run([os.path.join(args.build, "ebm-train"), f"{base}_train.csv", "-t", "y", "-m", model, "-q",
                    "--seed", str(split), "-j", "1", "--x-embedding", embedding], check=True)
    whole = predict(args, model, f"{base}_test.csv", split, f"{base}_{embedding}_pred.csv")
    with open(model) as f:
        checkpoint = json.load(f)
    members = []
    for k, params in enumerate([checkpoint["parameters"]] + [m["parameters"] for m in checkpoint["ensemble"]]):
        single = dict(checkpoint, parameters=params, ensemble=[])
        path = f"{base}_{embedding}_m{k}.json"
        with open(path, "w") as f:
            json.dump(single, f)
        members.append(predict(args, path, f"{base}_test.csv", split, f"{base}_{embedding}_m{k}_pred.csv"))
    return whole, members


def run_split(args, name, header, data, split, rows, kept):
    base = os.path.join(args.work, f"{name}_{split}")
    for role in ("train", "test"):
        uci.write_rows(f"{base}_{role}.csv", header, data, rows[role])
    runs = {e: run_candidate(args, base, split, e) for e in CANDIDATES}
    winner, loser = runs[kept][1], runs["periodic" if kept == "none" else "none"][1]
    error = max(abs(a - b) for a, b in zip(mixture(winner), runs[kept][0]))
    if error > 1e-3:
        raise SystemExit(f"{name} split {split}: offline mixture differs from the ensemble by {error}")
    n = len(winner[0])
    nll = lambda columns: -sum(mixture(columns)) / n
    return {"dataset": name, "split": split, "kept": kept, "members": len(winner),
            "auto": nll(winner), "winner_2_loser_1": nll(winner[:2] + loser[:1]),
            "winner_1_loser_1": nll(winner[:1] + loser[:1]), "winner_2": nll(winner[:2]),
            "all_members_both": nll(winner + loser), "none_only": nll(runs["none"][1]),
            "periodic_only": nll(runs["periodic"][1])}


def summarize(paths):
    rows = [json.loads(line) for p in paths for line in open(p) if line.strip()]
    keys = ["auto", "winner_2_loser_1", "winner_1_loser_1", "winner_2", "all_members_both", "none_only",
            "periodic_only"]
    print("| dataset | splits | " + " | ".join(keys) + " |")
    print("| --- | --- |" + " --- |" * len(keys))
    for name in uci.DATASETS:
        rs = [r for r in rows if r["dataset"] == name]
        if not rs:
            continue
        cells = []
        for k in keys:
            m, se = uci.mean_se([r[k] - r["auto"] for r in rs])
            mean = sum(r[k] for r in rs) / len(rs)
            cells.append(f"{mean:.3f}" if k == "auto" else f"{mean:.3f} ({m:+.3f} ± {se:.3f})")
        print(f"| {name} | {len(rs)} | " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="bostonHousing,concrete,energy,yacht")
    ap.add_argument("--splits", default="0-19", help="a range a-b or a list a,b,c")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(uci.ROOT, "build"))
    ap.add_argument("--uci", default=os.environ.get("UCI_DIR", os.path.join(uci.ROOT, "..", "shared", "uci")))
    ap.add_argument("--kept", default=os.path.join(uci.ROOT, "bench", "results", "uci_full_v9.jsonl"),
                    help="a bench/uci.py result file whose x_embedding says what auto kept")
    ap.add_argument("--work", help="a folder for the split files, checkpoints and predictions")
    ap.add_argument("--out")
    ap.add_argument("--summarize", nargs="*")
    args = ap.parse_args()
    if args.summarize:
        return summarize(args.summarize)
    if not (args.work and args.out):
        ap.error("--work and --out are required to run")
    os.makedirs(args.work, exist_ok=True)
    if "-" in args.splits:
        lo, hi = map(int, args.splits.split("-"))
        splits = list(range(lo, hi + 1))
    else:
        splits = [int(s) for s in args.splits.split(",")]
    kept = {(r["dataset"], r["split"]): r["x_embedding"] for r in map(json.loads, open(args.kept))}
    jobs = []
    with cf.ThreadPoolExecutor(args.jobs) as pool, open(args.out, "a") as out:
        for name in args.datasets.split(","):
            header, data, split_rows = uci.load_dataset(args.uci, name)
            for s in splits:
                jobs.append(pool.submit(run_split, args, name, header, data, s, split_rows[s], kept[(name, s)]))
        for job in jobs:
            r = job.result()
            out.write(json.dumps(r) + "\n")
            out.flush()
            print(f"{r['dataset']} split {r['split']}: auto {r['auto']:.3f}, 2 winner + 1 loser "
                  f"{r['winner_2_loser_1']:.3f}", flush=True)
    summarize([args.out])


if __name__ == "__main__":
    main()
