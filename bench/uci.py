#!/usr/bin/env python3
"""UCI regression benchmark (PBP / MC-dropout splits) for ebm.

For each dataset and split: train on the split's train rows only (ebm-train with its
defaults plus --train-args; any validation split is carved from the train rows by
ebm-train itself), predict the split's test rows with ebm-predict --metrics, and record
test NLL (original units), RMSE of the SNIS mean, CRPS and 90% interval coverage.
Reports mean and standard error over splits beside the published numbers.

  python3 bench/uci.py [--quick] [--splits N] [--datasets a,b] [--jobs J]
                       [--train-args "..."] [--predict-args "..."] [--out FILE.jsonl] [--tag NAME]

Data: ../shared/uci (or UCI_DIR). Needs build/ebm-train and build/ebm-predict.
"""
import argparse, concurrent.futures as cf, csv, json, math, os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATASETS = ["bostonHousing", "concrete", "energy", "kin8nm", "power-plant", "yacht"]
# Published test NLL / RMSE (see docs/benchmarks.md for sources).
PUBLISHED = {
    "bostonHousing": dict(de_nll=2.41, de_rmse=3.28, mcd_nll=2.46, ngb_nll=2.43, best_nll=2.34),
    "concrete": dict(de_nll=3.06, de_rmse=6.03, mcd_nll=3.04, ngb_nll=3.04, best_nll=2.75),
    "energy": dict(de_nll=1.38, de_rmse=2.09, mcd_nll=1.99, ngb_nll=0.60, best_nll=0.37),
    "kin8nm": dict(de_nll=-1.20, de_rmse=0.09, mcd_nll=-0.95, ngb_nll=-0.49, best_nll=-1.24),
    "power-plant": dict(de_nll=2.79, de_rmse=4.11, mcd_nll=2.80, ngb_nll=2.79, best_nll=2.60),
    "yacht": dict(de_nll=1.18, de_rmse=1.58, mcd_nll=1.55, ngb_nll=0.20, best_nll=0.05),
}


def load_dataset(uci, name):
    with open(os.path.join(uci, name + ".csv")) as f:
        rows = list(csv.reader(f))
    header, data = rows[0], [r for r in rows[1:] if r]
    splits = {}
    with open(os.path.join(uci, name + "_splits.csv")) as f:
        for r in csv.DictReader(f):
            s = splits.setdefault(int(r["split"]), {"train": [], "test": []})
            s[r["role"]].append(int(r["row"]))
    return header, data, splits


def write_rows(path, header, data, indices):
    """Writes the header and the rows `indices` of `data` to the CSV file `path`."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in indices:
            w.writerow(data[r])


def run_split(args, name, header, data, split, rows):
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for role in ("train", "test"):
            paths[role] = os.path.join(tmp, role + ".csv")
            write_rows(paths[role], header, data, rows[role])
        model = os.path.join(tmp, "model.json")
        metrics = os.path.join(tmp, "metrics.json")
        t0 = time.time()
        cmd = [os.path.join(args.build, "ebm-train"), paths["train"], "--target", "y", "-m", model, "-q",
               "--seed", str(split), "-j", str(args.threads)] + args.train_args.split()
        subprocess.run(cmd, check=True)
        t1 = time.time()
        cmd = [os.path.join(args.build, "ebm-predict"), "-m", model, paths["test"], "-o", os.devnull,
               "--metrics", metrics, "--seed", str(split), "-j", str(args.threads)] + args.predict_args.split()
        subprocess.run(cmd, check=True)
        t2 = time.time()
        with open(metrics) as f:
            m = json.load(f)
        with open(model) as f:
            checkpoint = json.load(f)
        results = checkpoint["results"]
        x_embedding = checkpoint["architecture"].get("x_embedding", "none")
        selection = checkpoint["results"].get("x_embedding_selection", {})
        # Honesty check of the reported NLL (an importance-sampling estimate): the same
        # model normalised on a fine grid over the dataset's y range, padded by half of it
        # on each side (bench/grid_nll.cpp; timed apart, as grid_seconds).
        nll_grid = grid = None
        t3 = time.time()
        grid_nll = os.path.join(args.build, "grid-nll")
        if not os.path.exists(grid_nll):
            grid_nll = os.path.join(ROOT, "build", "grid-nll")
        if os.path.exists(grid_nll):
            ys = [float(r[-1]) for r in data]
            lo, hi = min(ys), max(ys)
            pad = 0.5 * (hi - lo)
            out = subprocess.run([grid_nll, model, paths["test"], "--grid", str(lo - pad), str(hi + pad), str(args.grid_points),
                                  "--seed", str(split)], check=True, capture_output=True, text=True).stdout
            grid = json.loads(out)
            nll_grid = grid["test_nll_grid"]
    extra = {} if grid is None else dict(mass_min=grid["mass_min"], mass_max=grid["mass_max"],
                                         rows_off_10pct=grid["rows_off_10pct"], grid_points=args.grid_points,
                                         grid_seconds=round(time.time() - t3, 2))
    return dict(dataset=name, split=split, nll=m["nll"], rmse=m["rmse"], crps=m["crps"], coverage=m["coverage"],
                nll_grid=nll_grid, **extra, train_seconds=round(t1 - t0, 2), predict_seconds=round(t2 - t1, 2),
                best_epoch=results.get("best_epoch"), epochs_run=results.get("epochs_run"),
                temperature=results.get("temperature"), proposal_scale=results.get("proposal_scale"),
                valid_nll=results.get("valid_nll_calibrated"), x_embedding=x_embedding,
                members=1 + len(checkpoint.get("ensemble", [])),
                ensemble_temperature=results.get("ensemble_temperature"),
                ensemble_other_weight=results.get("ensemble_other_weight"),
                x_embedding_difference=selection.get("difference"),
                x_embedding_standard_error=selection.get("standard_error"), tag=args.tag)


def mean_se(values):
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return m, float("nan")
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    return m, sd / math.sqrt(n)


def summarize(records):
    out = []
    out.append("| dataset | splits | NLL (ours) | DE NLL | best NLL | RMSE (ours) | DE RMSE | CRPS | 90% coverage | NLL on a grid | row mass min-max (rows off >10%) | train s/split |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    coverages = []
    for name in DATASETS:
        rs = [r for r in records if r["dataset"] == name]
        if not rs:
            continue
        p = PUBLISHED[name]
        nll, nll_se = mean_se([r["nll"] for r in rs])
        rmse, rmse_se = mean_se([r["rmse"] for r in rs])
        crps, crps_se = mean_se([r["crps"] for r in rs])
        cov, cov_se = mean_se([r["coverage"] for r in rs])
        coverages.append(cov)
        secs = sum(r["train_seconds"] + r["predict_seconds"] for r in rs) / len(rs)
        grid_values = [r["nll_grid"] for r in rs if r.get("nll_grid") is not None]
        grid = f"{mean_se(grid_values)[0]:.3f}" if len(grid_values) == len(rs) else "–"
        masses = [r for r in rs if r.get("mass_min") is not None]
        mass = (f"{min(r['mass_min'] for r in masses):.3f}-{max(r['mass_max'] for r in masses):.3f} "
                f"({sum(r['rows_off_10pct'] for r in masses)})") if len(masses) == len(rs) else "–"
        flag_nll = " ✓" if nll <= p["de_nll"] else ""
        flag_best = " ★" if nll <= p["best_nll"] else ""
        flag_rmse = " ✓" if rmse <= p["de_rmse"] else ""
        out.append(f"| {name} | {len(rs)} | {nll:.3f} ± {nll_se:.3f}{flag_nll}{flag_best} | {p['de_nll']:.2f} | {p['best_nll']:.2f} | "
                   f"{rmse:.3f} ± {rmse_se:.3f}{flag_rmse} | {p['de_rmse']:.2f} | {crps:.3f} ± {crps_se:.3f} | "
                   f"{cov:.3f} ± {cov_se:.3f} | {grid} | {mass} | {secs:.1f} |")
    if coverages:
        out.append("")
        out.append(f"Mean 90%-interval coverage over datasets: {sum(coverages) / len(coverages):.3f}. "
                   "✓ = at or below Deep Ensembles, ★ = at or below the best published value.")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 splits per dataset")
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--jobs", type=int, default=2, help="splits run in parallel (each with --threads)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--grid-points", type=int, default=4096,
                    help="points of the honesty check's quadrature over the widened y range (16384 before v4b, "
                         "8192 in v4b; bench/results/dev/grid_points_4096_8192_16384.txt: NLLs within 0.0003)")
    ap.add_argument("--train-args", default="")
    ap.add_argument("--predict-args", default="")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--uci", default=os.environ.get("UCI_DIR", os.path.join(ROOT, "..", "shared", "uci")))
    ap.add_argument("--out", default=None)
    ap.add_argument("--tag", default="")
    ap.add_argument("--summarize", nargs="*", help="only print the table for these result files")
    args = ap.parse_args()
    if args.summarize is not None:
        records = [json.loads(l) for p in args.summarize for l in open(p) if l.strip()]
        print(summarize(records))
        return
    n_splits = 3 if args.quick else args.splits
    out = args.out or os.path.join(HERE, "results", "uci_quick.jsonl" if args.quick else "uci_full.jsonl")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    start = time.time()
    jobs = []
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool, open(out, "w") as sink:
        for name in args.datasets.split(","):
            header, data, splits = load_dataset(args.uci, name)
            for split in sorted(splits)[:n_splits]:
                jobs.append(pool.submit(run_split, args, name, header, data, split, splits[split]))
        records = []
        for job in cf.as_completed(jobs):
            r = job.result()
            records.append(r)
            sink.write(json.dumps(r) + "\n")
            sink.flush()
            print(f"{r['dataset']:>14} split {r['split']:2d}: nll {r['nll']:.3f} rmse {r['rmse']:.3f} "
                  f"cov {r['coverage']:.3f} ({r['train_seconds']:.1f}s, epoch {r['best_epoch']}/{r['epochs_run']})",
                  file=sys.stderr, flush=True)
    records.sort(key=lambda r: (DATASETS.index(r["dataset"]), r["split"]))
    print(summarize(records))
    print(f"\nTotal wall time: {time.time() - start:.0f} s; train args: '{args.train_args}'")


if __name__ == "__main__":
    main()
