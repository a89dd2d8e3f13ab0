#!/usr/bin/env python3
"""How early can --x-embedding auto compare its two candidates?

For each dataset and split, train one model with --x-embedding none and one with
--x-embedding periodic (--ensemble 1, defaults otherwise, --seed = split), on the split's
train rows, and record each run's per-epoch validation NLL and its validation NLL after
calibration. Then, for each probe length P, compare the candidate with the lower best
validation NLL over epochs 1..P against the one the full runs pick (lower NLL after
calibration at the end): the share of splits on which they agree is how safe a probe of
P epochs is (train_command.cpp, embedding_probe_epochs; docs/benchmarks.md, "The
x-embedding probe").

  python3 bench/embedding_probe.py --build BIN --out FILE.jsonl [--datasets a,b] [--splits 0,1,2,3]
  python3 bench/embedding_probe.py --summarize FILE.jsonl

Data: ../shared/uci (or UCI_DIR), as bench/uci.py.
"""
import argparse, concurrent.futures as cf, json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uci  # noqa: E402  (load_dataset, write_rows, DATASETS)

PROBES = (8, 15, 30, 60, 75, 125)


def run(args, name, header, data, split, rows, embedding):
    with tempfile.TemporaryDirectory() as tmp:
        train = os.path.join(tmp, "train.csv")
        uci.write_rows(train, header, data, rows)
        model = os.path.join(tmp, "model.json")
        subprocess.run([os.path.join(args.build, "ebm-train"), train, "--target", "y", "-m", model, "-q",
                        "--seed", str(split), "--ensemble", "1", "--x-embedding", embedding], check=True)
        with open(model) as f:
            checkpoint = json.load(f)
    results = checkpoint["results"]
    return {"dataset": name, "split": split, "x_embedding": embedding,
            "epochs_planned": checkpoint["training"].get("epochs"),
            "valid_nll_calibrated": results["valid_nll_calibrated"],
            "valid_nll": [e["valid_nll"] for e in results["history"]]}


def summarize(records):
    runs = {}
    for r in records:
        runs.setdefault((r["dataset"], r["split"]), {})[r["x_embedding"]] = r
    print("| dataset | split | full runs pick | periodic - none (calibrated) | epochs run (none, periodic) | "
          + " | ".join(f"P = {p}" for p in PROBES) + " |")
    print("| --- " * (5 + len(PROBES)) + "|")
    for (name, split), pair in sorted(runs.items()):
        if set(pair) != {"none", "periodic"}:
            continue
        final = min(pair, key=lambda e: (pair[e]["valid_nll_calibrated"], e != "none"))
        cells = []
        for p in PROBES:
            best = {e: min(pair[e]["valid_nll"][:p]) for e in pair}
            early = min(best, key=lambda e: (best[e], e != "none"))
            cells.append("agrees" if early == final else "**differs**")
        gap = pair["periodic"]["valid_nll_calibrated"] - pair["none"]["valid_nll_calibrated"]
        print(f"| {name} | {split} | {final} | {gap:+.3f} | {len(pair['none']['valid_nll'])}, "
              f"{len(pair['periodic']['valid_nll'])} | " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(uci.DATASETS))
    ap.add_argument("--splits", default="0,1,2,3")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(uci.ROOT, "build"))
    ap.add_argument("--uci", default=os.environ.get("UCI_DIR", os.path.join(uci.ROOT, "..", "shared", "uci")))
    ap.add_argument("--out", default=None)
    ap.add_argument("--summarize", nargs="*", help="only print the table for these result files")
    args = ap.parse_args()
    if args.summarize:
        records = []
        for path in args.summarize:
            with open(path) as f:
                records += [json.loads(line) for line in f if line.strip()]
        summarize(records)
        return
    jobs = []
    for name in args.datasets.split(","):
        header, data, splits = uci.load_dataset(args.uci, name)
        for split in (int(s) for s in args.splits.split(",")):
            for embedding in ("none", "periodic"):
                jobs.append((name, header, data, split, splits[split]["train"], embedding))
    records = []
    with cf.ThreadPoolExecutor(args.jobs) as pool:
        for record in pool.map(lambda j: run(args, *j), jobs):
            records.append(record)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(record) + "\n")
    summarize(records)


if __name__ == "__main__":
    main()
