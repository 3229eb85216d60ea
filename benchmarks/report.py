"""Regenerate docs/benchmarks.md (the part between its markers) and docs/benchmarks.png from the runner's JSON.

    python benchmarks/report.py [--results benchmarks/results/baseline.json]
                                [--profile benchmarks/results/profile.json] [--tune benchmarks/results/tune.json]

Text outside the markers (measurements of other scripts, written by hand) is kept as it is.
``--readme`` also writes the measured npslim/torch ranges into README.md's speed sentence (that
sentence only).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402

DOC = HERE.parent / "docs" / "benchmarks.md"
FIGURE = HERE.parent / "docs" / "benchmarks.png"
BEGIN = "<!-- benchmarks/report.py: begin (generated from benchmarks/results/*.json; edit report.py, not this part) -->"
END = "<!-- benchmarks/report.py: end -->"


def ms(s):
    return f"{s * 1e3:.1f}" if s >= 0.01 else f"{s * 1e3:.2f}"


def cfg(c):
    return "(" + ", ".join(str(v) for v in c) + ")"


def spread(v):
    """' (min–max)' of a summary entry when there was more than one round."""
    return f" ({ms(v['min'])}–{ms(v['max'])})" if v.get("rounds", 1) > 1 else ""


def sspread(v):
    """' (min–max)' in seconds."""
    return f" ({v['min']:.2f}–{v['max']:.2f})" if v.get("rounds", 1) > 1 else ""


def rspread(v):
    return f" ({v['min']:.2f}–{v['max']:.2f})" if v["max"] > v["min"] else ""


def machine_lines(res):
    m = res["machine"]
    blas = ", ".join(f"{p.get('internal_api')} {p.get('version')} kernel {p.get('architecture')}"
                     for p in res["versions"].get("blas") or [] if p.get("user_api") == "blas")
    over = m.get("blas_overrides_in_env") or {}
    return [f"- machine: {m.get('Model name', '?')}, {m.get('CPU(s)', m.get('cores'))} cores"
            + (f" ({m['Hypervisor vendor']} guest)" if m.get("Hypervisor vendor") else "")
            + f"; load average at start {', '.join(f'{v:.1f}' for v in m.get('loadavg_start', []))}",
            f"- versions: python {m.get('python')}, numpy {res['versions'].get('numpy')} ({blas}), "
            f"torch {res['versions'].get('torch')}; npslim {res.get('commit')}",
            f"- BLAS overrides in the shell: {over or 'none'}; the workers run without OPENBLAS_CORETYPE and "
            f"OPENBLAS_L2_SIZE (both removed together), the kernel above is what OpenBLAS then chose"]


def lstm_table(res, summ, rat):
    threads = res["threads"]
    head = "| (T, B, m, n) | " + " | ".join(f"npslim {t}t ms | torch {t}t ms | **ratio {t}t**" for t in threads) + " |"
    lines = [head, "|---|" + "---|---|---|" * len(threads)]
    for c in res["configs"]:
        k = ",".join(map(str, c))
        cells = []
        for t in threads:
            a, b = summ.get(f"lstm|npslim|t{t}|{k}"), summ.get(f"lstm|torch|t{t}|{k}")
            r = rat.get(f"ratio|lstm|t{t}|{k}")
            cells += [ms(a["median"]) + spread(a) if a else "", ms(b["median"]) + spread(b) if b else "",
                      f"**{r['median']:.2f}**{rspread(r)}" if r else ""]
        lines.append(f"| {cfg(c)} | " + " | ".join(cells) + " |")
    return lines


def ratio_range(rat, prefix):
    vals = [v["median"] for k, v in rat.items() if k.startswith(prefix)]
    return (min(vals), max(vals)) if vals else None


def figure(res, rat, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [1, 1.6]})
    labels = [cfg(c) for c in res["configs"]] + ["IMDB-shaped\nepoch"]
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(res["threads"]))
    for i, t in enumerate(res["threads"]):
        keys = [f"ratio|lstm|t{t}|{','.join(map(str, c))}" for c in res["configs"]] + [f"ratio|epoch|t{t}"]
        med = [rat[k]["median"] if k in rat else np.nan for k in keys]
        lo = [rat[k]["median"] - rat[k]["min"] if k in rat else 0 for k in keys]
        hi = [rat[k]["max"] - rat[k]["median"] if k in rat else 0 for k in keys]
        ax1.bar(x + (i - (len(res["threads"]) - 1) / 2) * width, med, width, yerr=[lo, hi], capsize=3,
                label=f"{t} thread{'s' if t > 1 else ''}")
    ax1.axhline(1.0, color="k", lw=0.8)
    ax1.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax1.set_ylabel("npslim time / PyTorch time")
    ax1.set_title("LSTM forward+backward (T, B, m, n) and training epoch", fontsize=10)
    ax1.legend(fontsize=8)
    cell_keys = sorted({k.split("|")[3] for k in rat if k.startswith("ratio|cell|")})
    for i, c in enumerate(res.get("cell_configs", [])):
        k = ",".join(map(str, c))
        vals = [rat.get(f"ratio|cell|t1|{name}|{k}", {}).get("median", np.nan) for name in cell_keys]
        w = 0.8 / len(res["cell_configs"])
        ax2.bar(np.arange(len(cell_keys)) + (i - (len(res["cell_configs"]) - 1) / 2) * w, vals, w, label=cfg(c))
    ax2.axhline(1.0, color="k", lw=0.8)
    ax2.set_xticks(np.arange(len(cell_keys)), cell_keys, rotation=60, ha="right", fontsize=8)
    ax2.set_ylabel("cell time / lstm time (npslim, 1 thread)")
    ax2.set_title("Every registered cell against lstm, forward+backward", fontsize=10)
    ax2.legend(fontsize=8, title="(T, B, m, n)", title_fontsize=8)
    if res.get("label"):
        fig.suptitle(res["label"][:140], fontsize=9, color="firebrick")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def generate(res, prof=None, tune=None, figure_name=FIGURE.name):
    summ, rat = res["summary"], run.ratios(res)
    p = res["params"]
    shown, skip = [], False                     # the command as run, less --label / --out and their values
    for a in res.get("argv", []):
        if skip or a in ("--label", "--out"):
            skip = not skip and a in ("--label", "--out")
            continue
        shown.append(a)
    command = " ".join(["python benchmarks/run.py", *shown])
    out = [BEGIN, "", f"## {res['date']} · separate processes, as users run them · `{command}`", ""]
    if res.get("label"):
        out += [f"> **{res['label']}**", ""]
    out += machine_lines(res)
    out += [f"- method: one fresh process per (case, library, threads) (`benchmarks/worker.py`), {p['rounds']} "
            f"round{'s' if p['rounds'] > 1 else ''}, the libraries alternating which goes first; a process warms "
            f"up with one call, then times calls for at least {p['min_time']} s and {p['min_reps']} calls and "
            f"reports their median; below, the median over rounds"
            + (" (min–max over rounds in brackets; ratios are taken per round)" if p["rounds"] > 1 else
               " (one round: no spread)") + f"; the whole run took {res['seconds'] / 60:.1f} min",
            f"- settings: threads t by OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = t and "
            f"`torch.set_num_threads(t)`; torch with oneDNN (`torch.backends.mkldnn.enabled`, its default) and "
            f"glibc malloc tuned ({', '.join(f'{k}={v}' for k, v in res['malloc_tuned'].items())}) so that "
            f"backward's large temporaries stay on the heap; npslim with glibc's defaults; float32, peepholes "
            f"off, input gradient computed by both (torch: `X.requires_grad`)",
            f"- reproduce: `python benchmarks/run.py --report` (this table, the profile below, the figure and the "
            f"README's sentence); another checkout: `--npslim PATH --out FILE`; "
            f"compare with this table: `python benchmarks/check_regression.py`", ""]
    out += ["### LSTM forward+backward, npslim `lstm` against `torch.nn.LSTM`", ""]
    out += lstm_table(res, summ, rat)
    rng = {t: ratio_range(rat, f"ratio|lstm|t{t}|") for t in res["threads"]}
    out += ["", "Ratio npslim/torch (above 1: npslim slower): "
            + "; ".join(f"{t} thread{'s' if t > 1 else ''} {r[0]:.2f}–{r[1]:.2f}×"
                        for t, r in rng.items() if r) + ".",
            ""]
    ep = [(t, summ.get(f"epoch|npslim|t{t}"), summ.get(f"epoch|torch|t{t}"), rat.get(f"ratio|epoch|t{t}"))
          for t in res["threads"]]
    if any(e[1] for e in ep):
        out += ["### Training epoch: Embedding → LSTM → Dense, IMDB shapes", "",
                f"Synthetic data of IMDB's shapes (token ids uniform in [2, 20000), length 80, labels 0/1), not the "
                f"reviews; an \"epoch\" is {p['epoch_batches']} minibatches of 32 (of the real 782), after one warm-up "
                f"epoch.  Embedding(20000, 128) → LSTM(128 → 128, peepholes off) → Dense(128 → 2) on the last "
                f"step, "
                f"softmax cross-entropy, Adam lr 1e-3, global-norm clip 5, dense embedding gradients in both.  npslim: "
                f"`Trainer.fit` (its training seconds, evaluation excluded); torch: the same loop written plainly.",
                "", "| threads | npslim s/epoch | torch s/epoch | **ratio** |", "|---|---|---|---|"]
        for t, a, b, r in ep:
            if a and b:
                out.append(f"| {t} | {a['median']:.2f}{sspread(a)} | {b['median']:.2f}{sspread(b)} | "
                           f"**{r['median']:.2f}**{rspread(r)} |")
        out.append("")
    cells = [k for k in rat if k.startswith("ratio|cell|")]
    if cells:
        names = sorted({k.split("|")[3] for k in cells}, key=lambda n: (n != "lstm", n))
        ccfgs = res["cell_configs"]
        out += ["### Every registered cell against `lstm` (npslim, 1 thread, forward+backward)", "",
                "Options: lstmp p = n/2; flstm p = n/2, r = n/4; glstm p = n/2, k = 2; others their defaults.", "",
                "| cell | " + " | ".join(f"ms {cfg(c)} | vs lstm" for c in ccfgs) + " |",
                "|---|" + "---|---|" * len(ccfgs)]
        for name in names:
            row = []
            for c in ccfgs:
                k = ",".join(map(str, c))
                a, r = summ.get(f"cell|npslim|t1|{name}|{k}"), rat.get(f"ratio|cell|t1|{name}|{k}")
                row += [ms(a["median"]) if a else "", f"{r['median']:.2f}" if r else ""]
            out.append(f"| {name} | " + " | ".join(row) + " |")
        out.append("")
    job = summ.get("job|npslim|tNone")
    if job:
        out += ["### The README's main job", "",
                f"`npslim {' '.join(run.JOB)}` (its defaults: 30 epochs, one BLAS thread), wall time of the whole "
                f"command in a fresh process, progress bars off: **{job['median']:.1f} s**"
                + (f" (min {job['min']:.1f}, max {job['max']:.1f} over {job['rounds']} rounds)" if job["rounds"] > 1
                   else "") + ".", ""]
    out += [f"![npslim/torch and cell/lstm ratios]({figure_name})", ""]
    if prof:
        out += profile_lines(prof)
    if tune:
        out += tune_lines(tune)
    out += [END]
    return "\n".join(out) + "\n"


def profile_lines(prof):
    blas = ", ".join(f"{b['internal_api']} {b['version']} kernel {b['architecture']}, {b['num_threads']} thread(s)"
                     for b in prof["blas"])
    out = ["### Where the time goes: npslim `lstm` forward+backward per step", "",
           f"`python benchmarks/profile_lstm.py` ({prof['date']}, {prof['threads']} BLAS thread, {blas}, npslim "
           f"{prof.get('commit')}).  One traced forward+backward records every NumPy call the cell makes; the calls "
           f"are replayed on arrays of the same layouts (same strides, same sharing of memory): the products alone "
           f"(exactly those npslim's lstm makes) give GEMM, the other calls elementwise (each call's C dispatch "
           f"included; the same calls on one-element arrays give that fixed cost alone), and the rest of the "
           f"measured total is Python (the interpreter, indexing, views, copies by "
           f"assignment).  Best of several interleaved timings, in one process.", ""]
    if prof.get("label"):
        out += [f"> **{prof['label']}**", ""]
    out += ["| (T, B, m, n) | total ms | GEMM ms | elementwise ms | Python/rest ms | per step: total µs | GEMM µs "
            "| elementwise µs | of which call overhead µs | rest µs | NumPy calls per step | GEMM share |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in prof["rows"]:
        T = r["config"][0]
        overhead = r.get("elementwise_call_overhead", float("nan"))
        out.append(f"| {cfg(r['config'])} | {ms(r['total'])} | {ms(r['gemm'])} | {ms(r['elementwise'])} | "
                   f"{ms(r['rest'])} | {r['total'] / T * 1e6:.0f} | {r['gemm'] / T * 1e6:.0f} | "
                   f"{r['elementwise'] / T * 1e6:.0f} | "
                   f"{overhead / T * 1e6:.0f} | "
                   f"{r['rest'] / T * 1e6:.0f} | {r['calls_per_step']:.0f} | "
                   f"{r['gemm'] / r['total']:.0%} |")
    counts = prof["rows"][0]["counts"]
    T0 = prof["rows"][0]["config"][0]
    out += ["", "Calls per step (first configuration, forward+backward; the hoisted products and reductions "
            "spread over T): " + ", ".join(f"{k} {v / T0:.1f}" for k, v in counts.items()) + ".", ""]
    return out


def tune_lines(tune):
    out = ["### Settings measured: malloc and torch's oneDNN path (lstm forward+backward, 1 thread, ms)", "",
           f"`python benchmarks/run.py --tune` ({tune['date']}); jemalloc: "
           f"{tune['jemalloc'] or 'not installed (not measured)'}; {tune['params']['rounds']} round(s), median.", ""]
    if tune.get("label"):
        out += [f"> **{tune['label']}**", ""]
    variants = sorted({(r["lib"], r["variant"]) for r in tune["table"]})
    configs = sorted({r["config"] for r in tune["table"]}, key=lambda c: [int(v) for v in c.split(",")])
    get = {(r["lib"], r["variant"], r["config"]): r["median"] for r in tune["table"]}
    out += ["| library | settings | " + " | ".join(f"({c.replace(',', ', ')})" for c in configs) + " |",
            "|---|---|" + "---|" * len(configs)]
    for lib, v in variants:
        out.append(f"| {lib} | `{v}` | " + " | ".join(ms(get[(lib, v, c)]) if (lib, v, c) in get else ""
                                                    for c in configs) + " |")
    return out + [""]


README = HERE.parent / "README.md"
README_CLAIM = re.compile(r"\(forward\+backward of the\s+LSTM (?:runs at|takes) .*?, see\s+\[docs/benchmarks\.md\]",
                          re.S)


def readme_claim(res):
    """The README's speed sentence with the measured separate-process ranges."""
    rat = run.ratios(res)
    words = {1: "one thread", 2: "two"}
    parts = [(f"{r[0]:.1f}–{r[1]:.1f}×", words.get(t, f"{t} threads")) for t in res["threads"]
             for r in [ratio_range(rat, f"ratio|lstm|t{t}|")] if r]
    first = f"{parts[0][0]} the time of PyTorch's `nn.LSTM` at {parts[0][1]}"
    rest = "".join(f" and {a} at {b}" for a, b in parts[1:])
    note = " (preliminary: measured on a shared, loaded machine)" if res.get("label") else ""
    return ("(forward+backward of the\nLSTM takes " + first + rest + ", on a 2-core CPU\nwith each library in its own "
            "process" + note + ", see\n[docs/benchmarks.md]")


def update_readme(res, path=README):
    text = path.read_text()
    new, k = README_CLAIM.subn(lambda _: readme_claim(res), text, count=1)
    if not k:
        raise SystemExit(f"{path}: the speed sentence '(forward+backward of the LSTM takes ... see "
                         f"[docs/benchmarks.md]' was not found")
    path.write_text(new)
    print(f"updated the speed sentence of {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(run.BASELINE))
    ap.add_argument("--profile", default=str(HERE / "results" / "profile.json"))
    ap.add_argument("--tune", default=str(HERE / "results" / "tune.json"))
    ap.add_argument("--doc", default=str(DOC))
    ap.add_argument("--readme", action="store_true",
                    help="also write the measured range into README.md's speed sentence")
    args = ap.parse_args(argv)
    res = json.loads(Path(args.results).read_text())
    prof = json.loads(Path(args.profile).read_text()) if Path(args.profile).exists() else None
    tune = json.loads(Path(args.tune).read_text()) if Path(args.tune).exists() else None
    doc = Path(args.doc)
    text = doc.read_text() if doc.exists() else "# Benchmarks\n\n" + BEGIN + "\n" + END + "\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc}: the markers of the generated part are missing; put\n{BEGIN}\n{END}\nwhere it goes")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    figure(res, run.ratios(res), doc.parent / FIGURE.name)
    doc.write_text(head + generate(res, prof, tune).rstrip("\n") + tail)
    print(f"wrote {doc} and {doc.parent / FIGURE.name}")
    if args.readme:
        update_readme(res)


if __name__ == "__main__":
    main()
