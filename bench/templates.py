"""Template mining on Loghub-2k: grouping accuracy, pairwise F1 and lines/s, against Drain3.

Each dataset's ``Content`` goes through :func:`detector.detect.templates.mask`, then
:meth:`TemplateTree.match` the way :class:`~detector.detect.novelty.NoveltyDetector`
drives it (one tree per dataset, the template id returned at match time is the
line's group). Drain3 (default settings) gets the same messages in the same run.

Scores, as the Loghub benchmark defines them (logpai/logparser's evaluator):
- GA, grouping accuracy: a line is right when the set of lines in its predicted
  group equals the set of lines in its true group; GA is the share of such lines.
- pairwise precision/recall/F1 over the pairs of lines put in one group.

Speed is mask + match (Drain3: ``add_log_message``) over all messages of a dataset
in one process, best of ``--repeat`` runs that alternate the miners.

    python bench/templates.py [DATA_DIR] [--datasets A,B] [--repeat 5] [--baseline REV]
    python bench/templates.py --baseline 86760dc     # also today's miner at that commit

Data: Loghub-2k with corrected templates (default ``../shared/data/loghub-2k`` beside
the repository). Drain3 is installed with pip when missing (it is not a dependency
of detector). Writes bench/out/templates.md.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import platform
import subprocess
import sys
import time
import types
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.detect import templates as current  # noqa: E402

DATASETS = ("Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac",
            "OpenSSH", "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper")
MAX_TEMPLATES = 5000          # DetectConfig().novelty_max_templates


def default_data_dir() -> Path | None:
    """``../shared/data/loghub-2k`` beside the repository (or beside its worktree folder)."""
    for base in (ROOT.parent, ROOT.parent.parent):
        candidate = base / "shared" / "data" / "loghub-2k"
        if candidate.is_dir():
            return candidate
    return None


@dataclass
class Dataset:
    name: str
    messages: list[str]
    truth: list[str]


def load(data_dir: Path, name: str) -> Dataset:
    with (data_dir / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return Dataset(name, [row["Content"] for row in rows], [row["EventId"] for row in rows])


# -- scoring ----------------------------------------------------------------------------
def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group is exactly their true group."""
    true_sizes = Counter(truth)
    members: dict[Hashable, list[int]] = defaultdict(list)
    for index, group in enumerate(predicted):
        members[group].append(index)
    right = 0
    for lines in members.values():
        labels = {truth[i] for i in lines}
        if len(labels) == 1 and true_sizes[truth[lines[0]]] == len(lines):
            right += len(lines)
    return right / len(truth) if truth else 1.0


def pairwise(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> tuple[float, float,
                                                                                float]:
    """Precision, recall and F1 over the pairs of lines grouped together."""
    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    true_pairs = sum(pairs(n) for n in Counter(truth).values())
    predicted_pairs = sum(pairs(n) for n in Counter(predicted).values())
    right_pairs = sum(pairs(n) for n in Counter(zip(predicted, truth, strict=True)).values())
    precision = right_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = right_pairs / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


# -- the miners -------------------------------------------------------------------------
Miner = Callable[[list[str]], list[Hashable]]


def detector_miner(module: types.ModuleType) -> Miner:
    """A miner run as NoveltyDetector runs it: mask, then match; the id at match time."""
    def run(messages: list[str]) -> list[Hashable]:
        mask = module.mask
        tree = module.TemplateTree(MAX_TEMPLATES)
        match = tree.match
        groups: list[Hashable] = []
        append = groups.append
        for when, message in enumerate(messages):
            tokens = mask(message)
            if not tokens:
                append("")
                continue
            template, _ = match(tokens, float(when))
            append(template.id)
        return groups
    return run


def drain3_miner() -> Miner | None:
    try:
        from drain3 import TemplateMiner
        from drain3.template_miner_config import TemplateMinerConfig
    except ImportError:
        return None
    import logging

    logging.getLogger("drain3").setLevel(logging.ERROR)

    def run(messages: list[str]) -> list[Hashable]:
        miner = TemplateMiner(config=TemplateMinerConfig())     # default settings
        add = miner.add_log_message
        return [add(message)["cluster_id"] for message in messages]
    return run


def ensure_drain3() -> str | None:
    """Drain3's version, installing it with pip if missing (not a dependency of detector)."""
    from importlib import metadata

    try:
        return metadata.version("drain3")
    except metadata.PackageNotFoundError:
        pass
    print("installing drain3 for the comparison: pip install drain3", file=sys.stderr)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "drain3"], check=False)
    if done.returncode != 0:
        return None
    importlib.invalidate_caches()
    try:
        return metadata.version("drain3")
    except metadata.PackageNotFoundError:
        return None


def module_at(revision: str) -> types.ModuleType:
    """detector/detect/templates.py as it was at a git revision (the "before" miner)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show",
                             f"{revision}:detector/detect/templates.py"],
                            check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader(f"templates_at_{revision}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module           # dataclasses look the module up
    exec(compile(source, f"{revision}:detector/detect/templates.py", "exec"), module.__dict__)
    return module


# -- running ----------------------------------------------------------------------------
@dataclass
class Result:
    ga: float
    precision: float
    recall: float
    f1: float
    groups: int
    seconds: list[float] = field(default_factory=list)


def score(miner: Miner, dataset: Dataset) -> Result:
    predicted = miner(dataset.messages)
    precision, recall, f1 = pairwise(dataset.truth, predicted)
    return Result(grouping_accuracy(dataset.truth, predicted), precision, recall, f1,
                  len(set(predicted)))


def timed(miner: Miner, messages: list[str]) -> float:
    for module in list(sys.modules.values()):      # cold caches: no run helps the next
        if getattr(module, "__name__", "").startswith(("detector.", "templates_at_")):
            for name, cache in list(vars(module).items()):     # _token_cache, _line_cache…
                if name.endswith("_cache") and isinstance(cache, dict | set):
                    cache.clear()
    started = time.perf_counter()
    miner(messages)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, help="the loghub-2k folder")
    parser.add_argument("--datasets", help="comma-separated names (default: all sixteen)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per miner (best)")
    parser.add_argument("--baseline", metavar="REV",
                        help="also run detector/detect/templates.py as of this git revision")
    parser.add_argument("--no-drain3", action="store_true", help="leave Drain3 out")
    args = parser.parse_args(argv)
    data_dir = args.data or default_data_dir()
    if data_dir is None or not data_dir.is_dir():
        parser.error("no Loghub-2k folder: pass its path (see the docstring)")
    names = args.datasets.split(",") if args.datasets else list(DATASETS)
    datasets = [load(data_dir, name) for name in names]

    miners: dict[str, Miner] = {}
    if args.baseline:
        miners[f"detector @ {args.baseline}"] = detector_miner(module_at(args.baseline))
    miners["detector"] = detector_miner(current)
    drain_version = None if args.no_drain3 else ensure_drain3()
    drain = drain3_miner() if drain_version else None
    if drain is not None:
        miners[f"Drain3 {drain_version}"] = drain
    elif not args.no_drain3:
        print("Drain3 unavailable (pip install drain3): left out", file=sys.stderr)

    results: dict[str, dict[str, Result]] = {m: {} for m in miners}
    for dataset in datasets:
        for name, miner in miners.items():
            results[name][dataset.name] = score(miner, dataset)
    for _ in range(args.repeat):                   # alternate the miners: same conditions
        for dataset in datasets:
            for name, miner in miners.items():
                results[name][dataset.name].seconds.append(timed(miner, dataset.messages))

    report = render(results, datasets, args, data_dir)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "templates.md").write_text(report)
    print(report)
    return 0


def render(results: dict[str, dict[str, Result]], datasets: list[Dataset],
           args: argparse.Namespace, data_dir: Path) -> str:
    miners = list(results)
    lines = ["| dataset | " + " | ".join(f"{m} GA | F1" for m in miners) + " |",
             "|---|" + "---:|---:|" * len(miners)]
    for dataset in datasets:
        cells = [f"{results[m][dataset.name].ga:.3f} | {results[m][dataset.name].f1:.3f}"
                 for m in miners]
        lines.append(f"| {dataset.name} | " + " | ".join(cells) + " |")
    averages = []
    for m in miners:
        rows = results[m].values()
        averages.append(f"**{sum(r.ga for r in rows) / len(rows):.3f}** | "
                        f"**{sum(r.f1 for r in rows) / len(rows):.3f}**")
    lines.append("| **average** | " + " | ".join(averages) + " |")

    total = sum(len(d.messages) for d in datasets)
    speed = ["| miner | lines/s (best run) | lines/s (median run) | worst dataset GA |",
             "|---|---:|---:|---:|"]
    for m in miners:
        runs = [sum(r.seconds[i] for r in results[m].values()) for i in range(args.repeat)]
        worst = min(results[m].items(), key=lambda item: item[1].ga)
        speed.append(f"| {m} | {total / min(runs):,.0f} | "
                     f"{total / sorted(runs)[len(runs) // 2]:,.0f} | "
                     f"{worst[0]} {worst[1].ga:.3f} |")
    command = "python bench/templates.py" + (f" --baseline {args.baseline}"
                                             if args.baseline else "")
    machine = (f"{platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}, "
               f"{time.strftime('%Y-%m-%d')}")
    return (f"Template mining on Loghub-2k ({len(datasets)} datasets, {total:,} messages, "
            f"corrected ground truth from `{data_dir.name}`; `{command}`). Machine: "
            f"{machine}. Speed: mask + match over all messages, {args.repeat} runs "
            "alternating the miners.\n\n" + "\n".join(lines) + "\n\n" + "\n".join(speed) + "\n")


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
