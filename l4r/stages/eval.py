"""eval: predictions -> metrics (paper 5.1.2), per user activity group, compared, or averaged over runs.

Reads: prediction records — {"user", "items": [ranked ids]} for top-k (candidates records work too;
those of another split are skipped) and {"user", "item", "rating"} for rating prediction — and the
held-out interactions of --split (+ train.jsonl for N(u)) from a prepared dataset folder.
Writes: metric records {"metric": "HR@3", "value", "n", "group"} on stdout; per-user rows
(--per-user: user, item, rank, N, group and each metric; AE/SE for ratings); a markdown table
(--markdown).

Top-k metrics average over ALL users with a held-out item in the split: a user without a
prediction counts as a miss (their number goes to stderr). Rating metrics average over all
held-out interactions: a missing rating prediction is an error (a smaller denominator would flatter
the model), predictions for other pairs are ignored and counted.
--compare A B: paired t-test of two per-user files on one metric (the paper's significance test).
--runs F1 F2 ...: mean and sample std of each metric over metric files (the paper averages 5 seeds).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import metrics as M
from ..data import load_targets, natural, per_user_values, train_counts
from ..metrics import rating_rows, summarise, topk_rows, with_groups
from ..errors import DataError, UsageError
from ..io import log, parse_line, read_jsonl, text_lines, write_jsonl, write_text
from ..schema import check


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--k takes cutoffs like 3,5; got {text!r}") from None
    if not ks or any(k < 1 for k in ks):
        raise UsageError(f"--k takes positive cutoffs like 3,5; got {text!r}")
    return sorted(set(ks))


def read_predictions(path, split: str) -> tuple[dict, dict, int]:
    """(user -> ranked items, (user, item) -> rating, records of another split skipped)."""
    name = "<stdin>" if str(path) == "-" else str(path)
    ranked: dict[str, list[str]] = {}
    rated: dict[tuple[str, str], float] = {}
    other = 0
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        rec = check(parse_line(line, name, lineno), "prediction", name, lineno)
        if rec.get("split") not in (None, split):
            other += 1
            continue
        user = rec["user"]
        if rec.get("items") is not None:
            if any(not isinstance(i, str) for i in rec["items"]):
                raise DataError("every ranked id must be a string", name, lineno, "items")
            if user in ranked:
                raise DataError(f"a second ranked list for user {user}", name, lineno, "user")
            ranked[user] = rec["items"]
        elif rec.get("item") is not None and rec.get("rating") is not None:
            if (user, rec["item"]) in rated:
                raise DataError(f"a second rating for user {user}, item {rec['item']}", name, lineno, "item")
            rated[(user, rec["item"])] = float(rec["rating"])
        else:
            raise DataError("missing (a top-k prediction needs items; a rating prediction needs item and "
                            "rating)", name, lineno, "items")
    return ranked, rated, other


def markdown(records: list[dict], label: str) -> str:
    """Overall metrics as one table row, groups as a second table."""
    names = list(dict.fromkeys(r["metric"] for r in records))
    overall = {r["metric"]: r for r in records if r.get("group") is None}
    n = next(iter(overall.values()))["n"] if overall else 0
    lines = [f"| run | {' | '.join(names)} | users |", "|---" * (len(names) + 2) + "|",
             f"| {label} | " + " | ".join(f"{overall[m]['value']:.4f}" if m in overall else "" for m in names)
             + f" | {n} |"]
    groups = list(dict.fromkeys(r["group"] for r in records if r.get("group") is not None))
    if groups:
        cell = {(r["group"], r["metric"]): r for r in records}
        lines += ["", "By user activity (N = training interactions, quantile groups):", "",
                  f"| group | users | {' | '.join(names)} |", "|---" * (len(names) + 2) + "|"]
        for g in groups:
            first = next(r for r in records if r.get("group") == g)
            lines.append(f"| {g} | {first['n']} | " + " | ".join(
                f"{cell[(g, m)]['value']:.4f}" if (g, m) in cell else "" for m in names) + " |")
    return "\n".join(lines) + "\n"


@dataclass
class Options:
    """What `l4r eval` scores (checked when made): the held-out items of `split`, top-k cutoffs `ks`,
    `groups` user-activity quantile groups (0: none); `per_user` rows and a `markdown_to` table are
    written where given, named `label`."""
    split: str = "test"
    ks: list[int] = field(default_factory=lambda: [3, 5])
    per_user: Path | None = None
    markdown_to: Path | None = None
    label: str | None = None
    groups: int = 5

    def __post_init__(self):
        if self.groups < 0:
            raise UsageError(f"--groups must be >= 0; got {self.groups}")


def run(predictions, data: Path, opts: Options = Options()) -> list[dict]:
    """Score predictions against the held-out interactions of `opts.split`; return the metric records."""
    split, ks, groups, label = opts.split, opts.ks, opts.groups, opts.label
    per_user, markdown_to = opts.per_user, opts.markdown_to
    targets = load_targets(data, split)
    counts = train_counts(data)
    ranked, rated, other = read_predictions(predictions, split)
    source = "<stdin>" if str(predictions) == "-" else str(predictions)
    if not ranked and not rated:
        raise DataError(f"no prediction records for split {split}" + (f" ({other} of other splits)" if other else ""),
                        source)
    records, rows = [], {}
    if ranked:
        names = [f"{m}@{k}" for k in ks for m in ("HR", "NDCG")]
        trows = topk_rows(targets, ranked, ks)
        grouped = with_groups(trows, counts, names, groups)
        records += summarise(trows, names, None) + grouped
        unseen = sum(not r["predicted"] for r in trows)
        if unseen:
            log(f"eval: {unseen} of {len(trows)} users with a {split} item have no ranked list: counted as misses")
        extra = len(set(ranked) - set(targets))
        if extra:
            log(f"eval: {extra} ranked lists are for users without a {split} item: ignored")
        for r in trows:
            rows[r["user"]] = r
    if rated:
        rrows = rating_rows(targets, rated, source)
        grouped = with_groups(rrows, counts, ["RMSE", "MAE"], groups)
        records += summarise(rrows, ["RMSE", "MAE"], None) + grouped
        extra = len(rated) - len(rrows)
        if extra:
            log(f"eval: {extra} rating predictions are for pairs that are not held out in {split}: ignored")
        for r in rrows:
            rows[r["user"]] = {**rows.get(r["user"], {}), **r}
    if other:
        log(f"eval: {other} records of other splits skipped")
    if label:
        records = [{**r, "label": label} for r in records]
    if per_user:
        write_jsonl(per_user, [rows[u] for u in sorted(rows, key=natural)])
    if markdown_to:
        write_text(markdown_to, markdown(records, label or source))
    overall = "  ".join(f"{r['metric']} {r['value']:.4f}" for r in records if r["group"] is None)
    log(f"eval: {split}, {len(targets)} users: {overall}")
    return records


def compare(a: Path, b: Path, metric: str) -> dict:
    """Paired t-test of two per-user files on one metric, over the users both hold."""
    va, vb = per_user_values(a, metric), per_user_values(b, metric)
    users = sorted(set(va) & set(vb), key=natural)
    unpaired = len(set(va) ^ set(vb))
    if unpaired:
        log(f"eval: {unpaired} users are in only one of the two files: left out")
    if len(users) < 2:
        raise DataError(f"{len(users)} users in both files; a paired t-test needs at least 2", f"{a}, {b}")
    xa, xb = [va[u] for u in users], [vb[u] for u in users]
    t, p = M.paired_ttest(xa, xb)
    rec = {"metric": metric, "a": str(a), "b": str(b), "mean_a": round(M.mean(xa), 6),
           "mean_b": round(M.mean(xb), 6), "diff": round(M.mean(xa) - M.mean(xb), 6), "t": round(t, 6),
           "p": p, "n": len(users), "per_user": {"MAE": "AE", "RMSE": "SE"}.get(metric, metric)}
    log(f"eval: {metric} A {rec['mean_a']:.4f}  B {rec['mean_b']:.4f}  A-B {rec['diff']:+.4f}  "
        f"t {t:.3f}  p {p:.4g}  ({len(users)} paired users)" + ("  *" if p <= 0.05 else ""))
    return rec


def over_runs(files: list[Path], markdown_to: Path | None = None) -> list[dict]:
    """Mean and sample std of each (metric, group) over metric files, one file per run."""
    values: dict[tuple, list[float]] = {}
    users: dict[tuple, float] = {}
    for f in files:
        for r in read_jsonl(f, "metric"):
            key = (r["metric"], r.get("group"))
            values.setdefault(key, []).append(float(r["value"]))
            users.setdefault(key, r.get("n"))
    if not values:
        raise DataError("no metric records", ", ".join(map(str, files)))
    records = []
    for (metric, group), vals in values.items():
        if len(vals) != len(files):
            log(f"eval: {metric} {group or ''} is in {len(vals)} of {len(files)} runs")
        sd = M.std(vals)
        records.append({"metric": metric, "value": round(M.mean(vals), 6),
                        "std": round(sd, 6) if sd is not None else None, "runs": len(vals),
                        "n": users[(metric, group)], "group": group})
    if markdown_to:
        lines = ["| metric | group | mean | std | runs |", "|---|---|---|---|---|"]
        lines += [f"| {r['metric']} | {r['group'] or 'all'} | {r['value']:.4f} | "
                  f"{'' if r['std'] is None else format(r['std'], '.4f')} | {r['runs']} |" for r in records]
        write_text(markdown_to, "\n".join(lines) + "\n")
    return records
