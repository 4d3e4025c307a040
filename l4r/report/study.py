"""Experiment report: an experiment folder -> markdown on stdout and PNG figures.

    l4r report --study --dir out/ml-100k/exp --dataset ml-100k > out/ml-100k/report.md

Reads every finished cell folder under --dir (a folder holding cell.json: {"kind": main|scale-llm|scale-ins,
"task", "backbone", "seed", "llm", "instructions", ...}, and cell.done; unfinished cells are named and
left out) and in it, each only if present:
metrics-{base,ift,l4r}.jsonl (test metric records; rating also -greedy), the ablation's
metrics-{noda,nopa,uniform}.jsonl, per-user-*.jsonl (paired t-test), grid-l4r.jsonl and selected-l4r.json
(alpha1 x alpha2 search), timings.jsonl, completions-*.jsonl.stats.json (LLM runs) and
metrics-aug.jsonl and round<N>/metrics-{aug,l4r}.jsonl (iterative mutual augmentation).
Writes the report on stdout: a headline (per scenario, does Llama4Rec beat Base and IFT), the hand-written
reading of --notes if given, main results (paper Tables 2-4), ablation (Table 5), hyper-parameters
(Figure 3), scaling (Figures 4-5), long tail, cost, rounds. Figures go to --figures (default
<dir>/figures) as PNG, linked relative to --report-dir (default the parent of --dir); without
matplotlib (the `plot` extra) the figures are skipped and every table still appears.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from .. import metrics as M
from ..data import per_user_values
from ..errors import DataError, UsageError
from ..io import read_jsonl
from .figures import Ctx, bar_plot, heatmap, line_plot, pyplot, rounds_plot
from .paper import RATING_COLS, TABLE2, TABLE3, TABLE4, TABLE5, TOPK_COLS
from .tables import change, f4, header, lower_better, mean_std, overall, pct, pvalue, row

TASKS = [("direct", "Table 2"), ("sequential", "Table 3"), ("rating", "Table 4")]
PAPER = {"direct": TABLE2, "sequential": TABLE3, "rating": TABLE4}
METHODS = [("base", "Base"), ("ift", "IFT"), ("l4r", "Llama4Rec")]
ABLATION = [("base", "Base"), ("ift", "IFT"), ("aug", "DA only"), ("noda", "w/o DA"), ("nopa", "w/o PA"),
            ("uniform", "w/o AA"), ("l4r", "Llama4Rec")]
# the make variables that produce each part (the Makefile's `experiment` rule owns these names)
ENABLED_BY = {"main": "`make experiment` (TASKS, *_BACKBONES, SEEDS)", "ablation": "ABLATE=backbone",
              "grid": "the grid search of `make experiment`", "scale-llm": "SCALE_LLMS",
              "scale-ins": "SCALE_INSTRUCTIONS", "cost": "`make experiment` (timings.jsonl, completions stats)",
              "rounds": "ROUNDS=2 or more"}
SIZES = {"smollm2": "135M"}   # the embedded LLM (l4r.backends.weights): its size is not in its name
ROUND = re.compile(r"round(\d+)")


@dataclass
class Cell:
    dir: Path
    meta: dict

    def __getattr__(self, name):
        return self.meta.get(name)


# ---------------------------------------------------------------- reading

def read_json(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", str(path), exc.lineno) from None
    if not isinstance(rec, dict):
        raise DataError("must be a JSON object", str(path))
    return rec


def load_cells(root: Path) -> tuple[list[Cell], list[Path]]:
    """The finished cells (cell.json and cell.done) and the folders of unfinished ones (no cell.done yet:
    left out, so a report read while the study runs never mixes a half-run cell into the means)."""
    done, unfinished = [], []
    for p in sorted(root.rglob("cell.json")):
        if not ROUND.fullmatch(p.parent.name):
            if (p.parent / "cell.done").exists():
                done.append(Cell(p.parent, read_json(p)))
            else:
                unfinished.append(p.parent)
    return done, unfinished


def metrics_of(d: Path, name: str) -> dict[str, float]:
    path = d / f"metrics-{name}.jsonl"
    return overall(path) if path.exists() else {}


def group_records(d: Path, name: str) -> list[dict]:
    path = d / f"metrics-{name}.jsonl"
    return [r for r in read_jsonl(path, "metric") if r.get("group")] if path.exists() else []


def user_means(cells: list[Cell], name: str, metric: str) -> dict[str, float]:
    """user -> the per-user value of `metric` averaged over the cells (seeds); RMSE reads SE, MAE AE."""
    acc: dict[str, list[float]] = {}
    for c in cells:
        path = c.dir / f"per-user-{name}.jsonl"
        for user, value in (per_user_values(path, metric).items() if path.exists() else ()):
            acc.setdefault(user, []).append(value)
    return {u: M.mean(v) for u, v in acc.items()}


def seed_values(dirs: list[Path], name: str) -> dict[str, list[float]]:
    """metric -> its overall value in each folder that has it."""
    out: dict[str, list[float]] = {}
    for d in dirs:
        for metric, value in metrics_of(d, name).items():
            out.setdefault(metric, []).append(value)
    return out


def means(dirs: list[Path], name: str) -> dict[str, float]:
    return {m: M.mean(v) for m, v in seed_values(dirs, name).items()}


# ---------------------------------------------------------------- helpers


def columns(task: str, found: list[dict]) -> list[str]:
    """The paper's columns, then any other metric the files hold (e.g. HR@10)."""
    base = RATING_COLS if task == "rating" else TOPK_COLS
    extra = sorted({m for f in found for m in f} - set(base), key=lambda m: (m.split("@")[-1].zfill(4), m))
    return base + extra


def groups_of(cells: list[Cell], *attrs: str) -> dict[tuple, list[Cell]]:
    out: dict[tuple, list[Cell]] = {}
    for c in cells:
        out.setdefault(tuple(getattr(c, a) for a in attrs), []).append(c)
    return out


def sorted_groups(cells: list[Cell], *attrs: str) -> list[tuple[tuple, list[Cell]]]:
    return sorted(groups_of(cells, *attrs).items(), key=lambda kv: tuple(map(str, kv[0])))


def by_kind(cells: list[Cell], kind: str) -> list[Cell]:
    return [c for c in cells if c.kind == kind]


def not_run(part: str) -> list[str]:
    return ["", f"not run (enable with {ENABLED_BY[part]})."]


def criterion(cells: list[Cell], task: str) -> str:
    for c in cells:
        sel = read_json(c.dir / "selected-l4r.json")
        if sel and sel.get("criterion"):
            return sel["criterion"]
    return "RMSE" if task == "rating" else "NDCG@5"


# ---------------------------------------------------------------- 2. main results

def improvement(cells: list[Cell], mean: dict[str, dict], metric: str) -> str:
    """Llama4Rec vs the best baseline, `*` when a paired t-test over users gives p <= 0.05."""
    lower = lower_better(metric)
    bases = [k for k in ("base", "ift") if metric in mean.get(k, {})]
    if not bases or metric not in mean.get("l4r", {}):
        return ""
    best = (min if lower else max)(bases, key=lambda k: mean[k][metric])
    gain = change(mean["l4r"][metric], mean[best][metric], lower)
    p = significance(cells, "l4r", best, metric)
    star = "*" if p is not None and p <= 0.05 and gain > 0 else ""
    return pct(gain) + star + ("" if p is None else f" (p={p:.3g})")


def significance(cells: list[Cell], a: str, b: str, metric: str) -> float | None:
    return pvalue(user_means(cells, a, metric), user_means(cells, b, metric))


def paper_rows(task: str, backbone: str, dataset: str, cols: list[str]) -> list[str]:
    table, out = PAPER[task], []
    for key, name in METHODS:
        who = "llama" if task == "rating" and key == "ift" else backbone
        vals = table.get((who, name), {}).get(dataset)
        if vals:
            paper_cols = RATING_COLS if task == "rating" else TOPK_COLS
            got = dict(zip(paper_cols, vals))
            out.append(row([f"paper {name}", ""] + [f4(got.get(c)) for c in cols]))
    return out


def main_table(ctx: Ctx, task: str, backbone: str, cells: list[Cell]) -> list[str]:
    dirs = [c.dir for c in cells]
    vals = {key: seed_values(dirs, key) for key, _ in METHODS}
    if not any(vals.values()):
        return ["metrics-{base,ift,l4r}.jsonl: not run."]
    cols = columns(task, list(vals.values()))
    lines = header(["method", "seeds"] + cols)
    names = METHODS + ([("ift-greedy", "IFT (greedy digit)"), ("l4r-greedy", "Llama4Rec (greedy digit)")]
                       if task == "rating" else [])
    for key, name in names:
        v = vals.get(key) or seed_values(dirs, key)
        if v:
            n = max(len(x) for x in v.values())
            lines.append(row([name, str(n)] + [mean_std(v.get(c, [])) for c in cols]))
    mean = {k: {m: M.mean(x) for m, x in v.items()} for k, v in vals.items()}
    lines.append(row(["Improv.", ""] + [improvement(cells, mean, c) for c in cols]))
    return lines + paper_rows(task, backbone, ctx.dataset, cols)


def main_section(ctx: Ctx, cells: list[Cell]) -> list[str]:
    out = ["## Main results (Tables 2-4)"]
    main = by_kind(cells, "main")
    if not main:
        return out + not_run("main")
    out += ["", "Test split, all users; mean ± sample std over seeds (std left out with one seed). Improv.: "
            "Llama4Rec against the best baseline (Base or IFT); `*`: paired t-test over users (per-user values "
            "averaged over seeds; RMSE on squared errors) with p <= 0.05. Rating rows read the LLM rating as "
            "the expected value over rating tokens; the greedy-digit rows read the greedy digit."]
    for task, label in TASKS:
        groups = [(k, v) for k, v in sorted_groups(main, "task", "backbone") if k[0] == task]
        out += ["", f"### {label}: {task}"]
        if not groups:
            out += not_run("main")
        for (_, backbone), group in groups:
            out += ["", f"Backbone {backbone}:", ""] + main_table(ctx, task, backbone, group)
    return out


# ---------------------------------------------------------------- 3. ablation

def has_ablation(c: Cell) -> bool:
    return any((c.dir / f"metrics-{k}.jsonl").exists() for k in ("noda", "nopa", "uniform"))


def ablation_table(task: str, cells: list[Cell]) -> list[str]:
    dirs = [c.dir for c in cells]
    found = {key: means(dirs, key) for key, _ in ABLATION}
    cols = columns(task, list(found.values()))
    lines = header(["variant", "seeds"] + cols)
    base = found["base"]
    for key, name in ABLATION:
        if found[key]:
            n = max(len(v) for v in seed_values(dirs, key).values())
            lines.append(row([name, str(n)] + [cell_vs(found[key].get(c), base.get(c), c) for c in cols]))
    return lines


def cell_vs(value, ref, metric: str) -> str:
    if value is None:
        return ""
    if ref is None:
        return f4(value)
    return f"{f4(value)} ({pct(change(value, ref, lower_better(metric)))})"


def paper_table5() -> list[str]:
    lines = header(["paper (LightGCN)", "ML-1M H@3", "ML-1M N@3", "BookCrossing H@3", "BookCrossing N@3"])
    ref = TABLE5["LightGCN"]
    for name, by_ds in TABLE5.items():
        vals = [cell_vs(v, r, "HR") for ds in ("ml-1m", "bookcrossing") for v, r in zip(by_ds[ds], ref[ds])]
        lines.append(row([name] + vals))
    return lines


def ablation_section(ctx: Ctx, cells: list[Cell]) -> list[str]:
    out = ["## Ablation (Table 5)"]
    abl = [c for c in cells if c.kind == "main" and has_ablation(c)]
    if not abl:
        out += not_run("ablation")
    else:
        out += ["", "Test split, mean over seeds; in brackets the change against Base (positive = better). "
                "DA only: the backbone retrained on the augmented data, without LLM ranking (not in the paper); "
                "w/o DA: no data augmentation; w/o PA: no prompt augmentation; w/o AA: uniform aggregation."]
    for (task, backbone), group in sorted_groups(abl, "task", "backbone"):
        out += ["", f"### {task}, backbone {backbone}", ""] + ablation_table(task, group)
    return out + ["", "The paper's Table 5 (LightGCN, direct recommendation):", ""] + paper_table5()


# ---------------------------------------------------------------- 4. hyper-parameters

def grid_means(cells: list[Cell], crit: str) -> dict[tuple, dict[tuple, float]]:
    """(split, mode) -> (alpha1, alpha2) -> the criterion averaged over seeds; a mode aggregated with
    the LLM's own score as U_LLM is its own mode here ("listwise (score)")."""
    acc: dict[tuple, dict[tuple, list[float]]] = {}
    for c in cells:
        path = c.dir / "grid-l4r.jsonl"
        for r in (read_jsonl(path) if path.exists() else []):
            v = (r.get("metrics") or {}).get(crit)
            if v is not None:
                key = (r.get("split"), setting_name(r))
                acc.setdefault(key, {}).setdefault((r.get("alpha1"), r.get("alpha2")), []).append(v)
    return {k: {a: M.mean(v) for a, v in g.items()} for k, g in acc.items()}


def grid_table(grid: dict[tuple, float], lower: bool) -> list[str]:
    a1s, a2s = sorted({a for a, _ in grid}), sorted({b for _, b in grid})
    best = (min if lower else max)(grid.values())
    lines = header(["α1 \\ α2"] + [f"{b:g}" for b in a2s])
    for a in a1s:
        vals = [grid.get((a, b)) for b in a2s]
        lines.append(row([f"{a:g}"] + [f"**{f4(v)}**" if v == best else f4(v) for v in vals]))
    return lines


def setting_name(r: dict) -> str:
    """The ranking mode, with the form of U_LLM when it is the LLM's own score."""
    return (r.get("mode") or "") + ("" if r.get("utility") in (None, "position") else f" ({r['utility']})")


def selection(cells: list[Cell], crit: str) -> list[str]:
    lines = header(["seed", "validation picks (mode, α1, α2)", "valid", "test", "best on test (mode, α1, α2)",
                    "test"])
    picked, best = [], []
    for c in sorted(cells, key=lambda c: str(c.seed)):
        s = read_json(c.dir / "selected-l4r.json")
        if not s:
            continue
        b = s.get("best_on_test") or {}
        picked.append(s.get("test"))
        best.append(b.get("value"))
        lines.append(row([str(c.seed), f"{setting_name(s)}, {s.get('alpha1')}, {s.get('alpha2')}", f4(s.get("valid")),
                          f4(s.get("test")), f"{setting_name(b)}, {b.get('alpha1')}, {b.get('alpha2')}",
                          f4(b.get("value"))]))
    if not picked:
        return ["", "selected-l4r.json: not run."]
    mean = lambda xs: M.mean([x for x in xs if x is not None])  # noqa: E731
    return ["", f"Test {crit} of the validation-selected setting, mean over seeds: {f4(mean(picked))}; of the "
            f"best setting on test: {f4(mean(best))}. The paper reports the best result on test (mode and α "
            "chosen on test); this report's main tables use the setting that validation selected.", ""] + lines


def hparam_block(ctx: Ctx, task: str, backbone: str, cells: list[Cell]) -> list[str]:
    crit = criterion(cells, task)
    grids = grid_means(cells, crit)
    out = ["", f"### {task}, backbone {backbone}: {crit} (mean over {len(cells)} seed(s))"]
    if not grids:
        return out + ["", "grid-l4r.jsonl: not run."] + selection(cells, crit)
    for (split, mode) in sorted(grids, key=lambda k: (k[1], k[0] != "valid")):
        out += ["", f"{split}, {mode} (rows α1, columns α2; bold: best):", ""]
        out += grid_table(grids[(split, mode)], lower_better(crit))
    out += heatmap(ctx, grids, crit, f"hparams-{task}-{backbone}") if ctx.plt else ctx.no_plots()
    return out + selection(cells, crit)


def hparam_section(ctx: Ctx, cells: list[Cell]) -> list[str]:
    out = ["## Hyper-parameters α1, α2 (Figure 3)"]
    main = by_kind(cells, "main")
    if not any((c.dir / "grid-l4r.jsonl").exists() or (c.dir / "selected-l4r.json").exists() for c in main):
        return out + not_run("grid")
    for (task, backbone), group in sorted_groups(main, "task", "backbone"):
        out += hparam_block(ctx, task, backbone, group)
    return out


# ---------------------------------------------------------------- 5. scaling

def llm_size(name: str) -> tuple:
    """Sort key: a parameter count in the name (135M, 1.7B, 7b), then the name."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*([mMbB])\b", SIZES.get(str(name), str(name)))
    size = float(m.group(1)) * (1e6 if m.group(2) in "mM" else 1e9) if m else math.inf
    return size, str(name)


def scale_points(cells: list[Cell], main: list[Cell], axis: str) -> dict:
    """x -> cells; main cells of the same task and backbone add their point where the held variable and
    the seed match (scale cells run one seed: a point averaged over other seeds would not compare)."""
    held = "instructions" if axis == "llm" else "llm"
    fixed, seeds = {getattr(c, held) for c in cells}, {c.seed for c in cells}
    points = groups_of(cells, axis)
    for x, cs in groups_of([c for c in main if getattr(c, held) in fixed and c.seed in seeds], axis).items():
        points.setdefault(x, cs)
    order = llm_size if axis == "llm" else number
    return {k[0]: points[k] for k in sorted(points, key=lambda k: order(k[0]))}


def number(x) -> tuple:
    try:
        return float(x), ""
    except (TypeError, ValueError):
        return math.inf, str(x)


def scale_block(ctx: Ctx, task: str, backbone: str, points: dict, axis: str, fig: str) -> list[str]:
    dirs = {x: [c.dir for c in cs] for x, cs in points.items()}
    vals = {x: {k: means(d, k) for k in ("ift", "l4r")} for x, d in dirs.items()}
    cols = columns(task, [v for x in vals.values() for v in x.values()])
    lines = header([axis, "seeds"] + [f"{n} {c}" for n in ("IFT", "Llama4Rec") for c in cols])
    for x, v in vals.items():
        lines.append(row([str(x), str(len(dirs[x]))] + [f4(v[k].get(c)) for k in ("ift", "l4r") for c in cols]))
    out = ["", f"### {axis}: {task}, backbone {backbone}", ""] + lines
    return out + (line_plot(ctx, vals, cols, axis, fig) if ctx.plt else ctx.no_plots())


def scaling_section(ctx: Ctx, cells: list[Cell]) -> list[str]:
    out = ["## Scaling (Figures 4 and 5)"]
    main = by_kind(cells, "main")
    for kind, axis, label in (("scale-llm", "llm", "Figure 4: LLM size"), ("scale-ins", "instructions",
                                                                          "Figure 5: instructions")):
        out += ["", f"{label} (test split, mean over seeds; the main cells add their point where the "
                "other variable and the seed match)."]
        groups = sorted_groups(by_kind(cells, kind), "task", "backbone")
        if not groups:
            out += not_run(kind)
        for (task, backbone), group in groups:
            same = [c for c in main if (c.task, c.backbone) == (task, backbone)]
            out += scale_block(ctx, task, backbone, scale_points(group, same, axis), axis,
                               f"{kind}-{task}-{backbone}")
    return out


# ---------------------------------------------------------------- 6. long tail

def tail_values(cells: list[Cell], key: str, metric: str) -> dict[str, tuple[str, float, int]]:
    """'q1' -> (label, metric averaged over seeds, users)."""
    acc: dict[str, list] = {}
    for c in cells:
        for r in group_records(c.dir, key):
            if r["metric"] == metric:
                q = r["group"].split()[0]
                acc.setdefault(q, [r["group"], [], r.get("n")])[1].append(r["value"])
    return {q: (lab, M.mean(v), n) for q, (lab, v, n) in acc.items()}


def tail_block(ctx: Ctx, task: str, backbone: str, cells: list[Cell]) -> list[str]:
    metric = "RMSE" if task == "rating" else "HR@5"
    vals = {name: tail_values(cells, key, metric) for key, name in METHODS}
    vals = {k: v for k, v in vals.items() if v}
    qs = sorted({q for v in vals.values() for q in v}, key=lambda q: int(re.sub(r"\D", "", q) or 0))
    out = ["", f"### {task}, backbone {backbone}: {metric} by user activity", ""]
    if not qs:
        return out + ["no per-group metric records (eval --groups 0?)."]
    label = {q: v[q][0] for v in vals.values() for q in v}
    users = {q: v[q][2] for v in vals.values() for q in v}
    out += header(["group (N = training interactions)", "users"] + list(vals))
    out += [row([label[q], str(users[q] or "")] + [f4(v.get(q, (0, None))[1]) for v in vals.values()]) for q in qs]
    return out + (bar_plot(ctx, vals, qs, label, metric, f"longtail-{task}-{backbone}") if ctx.plt
                  else ctx.no_plots())


def tail_section(ctx: Ctx, cells: list[Cell]) -> list[str]:
    out = ["## Long tail"]
    main = by_kind(cells, "main")
    if not main:
        return out + not_run("main")
    out += ["", "Users in quantile groups of their training interactions N (q1: the least active); mean over "
            "seeds of each group's metric."]
    for (task, backbone), group in sorted_groups(main, "task", "backbone"):
        out += tail_block(ctx, task, backbone, group)
    return out


# ---------------------------------------------------------------- 7. cost

def run_dirs(c: Cell) -> list[Path]:
    return [c.dir] + sorted(d for d in c.dir.iterdir() if d.is_dir() and ROUND.fullmatch(d.name))


def stage_table(cells: list[Cell]) -> list[str]:
    acc: dict[str, list] = {}
    for c in cells:
        for d in run_dirs(c):
            path = d / "timings.jsonl"
            for r in (read_jsonl(path) if path.exists() else []):
                a = acc.setdefault(r.get("stage", "?"), [0, 0.0, 0])
                a[0], a[1], a[2] = a[0] + 1, a[1] + float(r.get("seconds") or 0), a[2] + (r.get("rc") not in (0, None))
    if not acc:
        return ["timings.jsonl: not run."]
    lines = header(["stage", "runs", "seconds", "failed"])
    lines += [row([s, str(n), f"{sec:.1f}", str(bad)]) for s, (n, sec, bad) in sorted(acc.items())]
    return lines + [row(["**total**", str(sum(a[0] for a in acc.values())),
                         f"**{sum(a[1] for a in acc.values()):.1f}**", str(sum(a[2] for a in acc.values()))])]


LLM_KEYS = ["prompts", "prompt_tokens", "completion_tokens", "seconds", "hallucinated", "duplicates"]


def llm_runs(d: Path):
    """(run name, its LLM stats, how many answers were unusable) for each LLM run of a cell folder: the
    completions-NAME files, and augment's run (its work folder; unusable from augment's own stats)."""
    for path in sorted(d.glob("completions-*.stats.json")):
        s = read_json(path) or {}
        name = path.name.removeprefix("completions-").split(".jsonl")[0].removesuffix(".stats.json")
        yield name, s, (s.get("status") or {}).get("unparseable", 0)
    for path in sorted(d.glob("*.work/completions.jsonl.stats.json")):
        s = read_json(path) or {}
        aug = read_json(d / (path.parent.name.removesuffix(".work") + ".stats.json")) or {}
        yield "augment", s, aug.get("unusable", (s.get("status") or {}).get("unparseable", 0))


def llm_totals(cells: list[Cell]) -> dict[str, dict]:
    """LLM run name -> summed counters over cells (and rounds)."""
    acc: dict[str, dict] = {}
    for c in cells:
        for d in run_dirs(c):
            for name, s, unusable in llm_runs(d):
                a = acc.setdefault(name, {"files": 0, "unparseable": 0, "cost": None})
                a["files"] += 1
                for k in LLM_KEYS:
                    a[k] = a.get(k, 0) + (s.get(k) or 0)
                a["unparseable"] += unusable
                cost = (s.get("usage") or {}).get("cost")
                if cost is not None:
                    a["cost"] = (a["cost"] or 0) + cost
    return acc


def llm_table(cells: list[Cell]) -> list[str]:
    acc = llm_totals(cells)
    if not acc:
        return ["completions stats: not run."]
    lines = header(["LLM run", "files", "prompts", "prompt tokens", "completion tokens", "seconds", "prompts/s",
                    "unparseable", "hallucinated", "cost"])
    for name, a in sorted(acc.items()):
        rate = f"{a['prompts'] / a['seconds']:.2f}" if a["seconds"] else ""
        lines.append(row([name, str(a["files"]), str(a["prompts"]), str(a["prompt_tokens"]),
                          str(a["completion_tokens"]), f"{a['seconds']:.1f}", rate, str(a["unparseable"]),
                          str(a["hallucinated"]), "" if a["cost"] is None else f"{a['cost']:.4f}"]))
    return lines


def cost_section(ctx: Ctx, cells: list[Cell]) -> list[str]:
    out = ["## Cost"]
    if not cells:
        return out + not_run("cost")
    for kind in sorted({c.kind for c in cells}, key=lambda k: (k != "main", str(k))):
        group = by_kind(cells, kind)
        out += ["", f"### {kind} cells ({len(group)}): wall seconds per stage, summed over cells", ""]
        out += stage_table(group) + ["", "LLM runs, summed over cells (augment: the data augmentation's run; its "
                                     "unparseable answers are those that gave no augmentation):", ""] + llm_table(group)
    return out


# ---------------------------------------------------------------- 8. rounds

def round_dirs(c: Cell) -> dict[int, Path]:
    found = {int(ROUND.fullmatch(d.name).group(1)): d for d in run_dirs(c)[1:]}
    return {1: c.dir, **found} if found else {}


def rounds_block(ctx: Ctx, task: str, backbone: str, cells: list[Cell]) -> list[str]:
    per_round: dict[int, list[Path]] = {}
    for c in cells:
        for r, d in round_dirs(c).items():
            per_round.setdefault(r, []).append(d)
    vals = {r: {k: means(ds, k) for k in ("aug", "l4r")} for r, ds in sorted(per_round.items())}
    cols = columns(task, [v for x in vals.values() for v in x.values()])
    lines = header(["round", "seeds"] + [f"{n} {c}" for n in ("backbone", "Llama4Rec") for c in cols])
    for r, v in vals.items():
        lines.append(row([str(r), str(len(per_round[r]))] + [f4(v[k].get(c)) for k in ("aug", "l4r") for c in cols]))
    out = ["", f"### {task}, backbone {backbone}", ""] + lines
    return out + (rounds_plot(ctx, vals, criterion(cells, task), f"rounds-{task}-{backbone}") if ctx.plt
                  else ctx.no_plots())


def rounds_section(ctx: Ctx, cells: list[Cell]) -> list[str]:
    out = ["## Rounds (beyond the paper)"]
    with_rounds = [c for c in cells if round_dirs(c)]
    if not with_rounds:
        return out + not_run("rounds")
    out += ["", "Iterative mutual augmentation: round r retrains the backbone on the data the round r-1 model "
            "augmented (the LLM of round r is tuned on instructions and prompts from round r-1's augmented backbone). "
            "Round 1 is the cell itself. `backbone`: the backbone retrained on round r's augmented data, alone. "
            "Test split, mean over seeds."]
    for (kind, task, backbone), group in sorted_groups(with_rounds, "kind", "task", "backbone"):
        out += rounds_block(ctx, task, backbone, group)
    return out


# ---------------------------------------------------------------- report

SECTIONS = [main_section, ablation_section, hparam_section, scaling_section, tail_section, cost_section,
            rounds_section]


def summary(ctx: Ctx, cells: list[Cell]) -> list[str]:
    kinds = ", ".join(f"{len(by_kind(cells, k))} {k}" for k in sorted({str(c.kind) for c in cells}))
    seeds = ", ".join(sorted({str(c.seed) for c in cells}, key=lambda s: (len(s), s)))
    return [f"# Llama4Rec experiment: {ctx.dataset}", "",
            f"{len(cells)} cells ({kinds or 'none'}); seeds: {seeds or 'none'}."]


def verdict(gain: float, p: float | None, name: str) -> str:
    """How Llama4Rec stands against one baseline (gain: the improvement, positive = better)."""
    test = "" if p is None else f", p={p:.3g}"
    if p is not None and p <= 0.05:
        return f"{'**beats**' if gain > 0 else 'is significantly worse than'} {name} ({pct(gain)}{test})"
    return f"{'is better than' if gain > 0 else 'is not better than'} {name}, not significantly ({pct(gain)}{test})"


def paper_change(task: str, backbone: str, dataset: str, metric: str) -> str:
    """The paper's Llama4Rec against its Base and IFT on `metric`, or '' when it has no row."""
    table, cols = PAPER[task], RATING_COLS if task == "rating" else TOPK_COLS
    if metric not in cols:
        return ""
    got = {}
    for key, name in METHODS:
        vals = table.get(("llama" if task == "rating" and key == "ift" else backbone, name), {}).get(dataset)
        if vals:
            got[key] = vals[cols.index(metric)]
    if "l4r" not in got:
        return ""
    lower = lower_better(metric)
    return "; paper: " + ", ".join(f"{pct(change(got['l4r'], got[k], lower))} over {n}"
                                   for k, n in (("base", "Base"), ("ift", "IFT")) if k in got)


def headline(ctx: Ctx, cells: list[Cell]) -> list[str]:
    """The report's first lines: per scenario and backbone, does Llama4Rec beat Base and IFT?"""
    out = ["## Headline", "", "Test split: Llama4Rec against Base and IFT on NDCG@5 (rating: RMSE), means over "
           "seeds; p: paired t-test over users on per-user values averaged over seeds; significant at p <= 0.05."]
    groups = sorted_groups(by_kind(cells, "main"), "task", "backbone")
    for (task, backbone), group in groups:
        metric = "RMSE" if task == "rating" else "NDCG@5"
        mean = {k: means([c.dir for c in group], k).get(metric) for k, _ in METHODS}
        if mean["l4r"] is None:
            continue
        lower = lower_better(metric)
        against = [verdict(change(mean["l4r"], mean[k], lower), significance(group, "l4r", k, metric), n)
                   for k, n in (("base", "Base"), ("ift", "IFT")) if mean[k] is not None]
        out.append(f"- {task}, {backbone} ({len(group)} seed{'s' * (len(group) > 1)}): Llama4Rec {metric} "
                   f"{f4(mean['l4r'])} " + " and ".join(against or ["(no baseline run)"])
                   + paper_change(task, backbone, ctx.dataset, metric) + ".")
    return out if len(out) > 3 else out + not_run("main")


@dataclass
class Options:
    """How the report is written: figures go to `figures` (default DIR/figures), linked relative to
    `report_dir` (default DIR/..); `notes`: a markdown file of hand-written reading, placed after the headline."""
    dataset: str
    figures: Path | None = None
    report_dir: Path | None = None
    plots: bool = True
    notes: Path | None = None


def reading(notes: Path | None) -> list[str]:
    if notes is None:
        return []
    if not notes.is_file():
        raise UsageError(f"{notes}: no such notes file (--notes)")
    return ["", "## Reading", "", notes.read_text(encoding="utf-8").strip()]


def report(root: Path, opts: Options) -> str:
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root}: no such experiment folder (run `make experiment` first)")
    ctx = Ctx(opts.dataset, Path(opts.figures or root / "figures"), Path(opts.report_dir or root.parent),
              pyplot() if opts.plots else None, noted=not opts.plots)
    cells, unfinished = load_cells(root)
    out = summary(ctx, cells)
    if unfinished:
        out.append(f"Left out, unfinished (no cell.done): {', '.join(str(d.relative_to(root)) for d in unfinished)}.")
    out += [""] + headline(ctx, cells) + reading(opts.notes)
    for section in SECTIONS:
        out += [""] + section(ctx, cells)
    return "\n".join(out) + "\n"
