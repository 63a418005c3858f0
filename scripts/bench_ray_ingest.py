"""Ray ingest of the whole corpus against the local process pool (issue 12): files/s, scaling, overhead.

Every run is the real CLI on a fresh library (``dancesearch ingest CORPUS --metadata manifest.json
--json``), timed from outside (wall seconds, Ray start-up included) and by the ingest's own ``seconds``.
Configurations, interleaved within each repetition so machine noise spreads over all of them:

* ``local-1``, ``local-2``: the local process pool with 1 and 2 workers (``--workers N``);
* ``ray-1``, ``ray-2``: a local Ray runtime started by the command with 1 and 2 CPUs (``--ray --workers N``);
* ``cluster-2``: a two-node Ray cluster on this machine, one CPU each (``ray start --head`` and a second
  ``ray start --address``), joined with ``--ray-address``; both nodes are stopped at the end;
* ``ray-fixed``/``local-fixed``: one small file, to measure the fixed cost of starting Ray.

Each library is compared with the ``local-2`` one (:func:`indexer.digest.library_digest`: every clip's
path, content hash, store key, labels, split, details and windows, and the open errors).

Usage (as measured for docs/bench/ray-ingest.md, which ``--md`` writes from the same run as ``--out``):
``.venv/bin/python scripts/bench_ray_ingest.py --corpus ../shared/corpus --work /tmp/ray-bench
--repeat 3 --out docs/bench/ray-ingest.json --md docs/bench/ray-ingest.md``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
CONFIGS = ["local-1", "local-2", "ray-1", "ray-2", "cluster-2"]
# `ray start --head` enables token authentication (Ray 2.60): the second node and the driver joining the
# cluster need RAY_AUTH_MODE=token (the token is in ~/.ray/auth_token).
CLUSTER_ENV = {**os.environ, "RAY_AUTH_MODE": "token"}


def _cmd(config: str, target: Path, manifest: Path, data: Path, address: str) -> list[str]:
    base = [str(BIN / "dancesearch"), "ingest", str(target), "--metadata", str(manifest),
            "--data-dir", str(data), "--json"]
    kind, _, n = config.partition("-")
    if kind == "local":
        return base + ["--workers", n]
    # --no-index: the ingest alone, as the local runs (--ray would then sync the indexes on actors).
    if kind == "ray":
        return base + ["--ray", "--workers", n, "--no-index"]
    return base + ["--ray-address", address, "--no-index"]


def _run(cmd: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=CLUSTER_ENV if "--ray-address" in cmd else None)
    wall = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    doc = json.loads(done.stdout)
    return {**doc, "wall": wall, "files": doc["added"] + doc["failed"]}


def _digest(data: Path) -> dict[str, Any]:
    from db.config import LibraryLocation
    from db.library import Library
    from indexer.digest import library_digest

    with Library.open(LibraryLocation.resolve(data)) as lib:
        return library_digest(lib)


def _ray(*args: str) -> None:
    done = subprocess.run([str(BIN / "ray"), *args], capture_output=True, text=True, env=CLUSTER_ENV, timeout=180)
    if done.returncode:
        raise SystemExit(f"ray {' '.join(args)} failed: {done.stderr[-2000:]}")


def _foreign_ray(temp_dir: Path) -> list[int]:
    """PIDs of Ray processes on this machine that this script did not start."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if ("raylet" in cmd or "gcs_server" in cmd) and str(temp_dir) not in cmd:
                out.append(int(entry.name))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/ray-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=6391)
    parser.add_argument("--out", type=Path, default=None, help="the report as JSON")
    parser.add_argument("--md", type=Path, default=None, help="the report as markdown (render())")
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    temp_dir = args.work / "ray"
    address = f"127.0.0.1:{args.port}"
    foreign = _foreign_ray(temp_dir)
    report: dict[str, Any] = {"corpus": str(corpus), "load_start": os.getloadavg(), "runs": {},
                              "commands": {}, "nice": os.nice(0), "repeat": args.repeat,
                              "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                              "cpus": os.cpu_count(), "versions": _versions()}
    env_note = f"{len(foreign)} Ray processes of others running" if foreign else "no other Ray running"
    print(f"corpus {corpus}; {env_note}; niceness {os.nice(0)}", flush=True)
    _ray("get-auth-token", "--generate")  # a fresh machine has no ~/.ray/auth_token yet; kept if it has one
    _ray("start", "--head", "--port", str(args.port), "--num-cpus", "1", "--include-dashboard", "false",
         "--temp-dir", str(temp_dir), "--disable-usage-stats")
    try:
        _ray("start", "--address", address, "--num-cpus", "1", "--disable-usage-stats")
        report["commands"]["cluster"] = [
            f"ray start --head --port {args.port} --num-cpus 1 --include-dashboard false "
            f"--temp-dir {temp_dir} --disable-usage-stats",
            f"RAY_AUTH_MODE=token ray start --address {address} --num-cpus 1 --disable-usage-stats"]
        # Fixed cost: one small file, Ray runtime started by the command vs the local pool.
        small = args.work / "one"
        small.mkdir()
        shutil.copy(corpus / "bandai/dataset-1/dataset-1_dash_normal_001.bvh.gz", small)
        for rep in range(args.repeat):
            for config in CONFIGS:
                data = args.work / f"{config}-{rep}"
                cmd = _cmd(config, corpus, corpus / "manifest.json", data, address)
                report["commands"][config] = ("RAY_AUTH_MODE=token " if config == "cluster-2" else "") + \
                    " ".join(["dancesearch", *cmd[1:]]).replace(str(data), "DATA")
                res = _run(cmd)
                report["runs"].setdefault(config, []).append(res)
                print(f"rep {rep} {config:<10} {res['files']} files ({res['added']} added, {res['failed']} "
                      f"failed) in {res['seconds']:.2f} s (wall {res['wall']:.2f} s)", flush=True)
            for config in ("local-fixed", "ray-fixed"):
                data = args.work / f"{config}-{rep}"
                cmd = _cmd("local-2" if config == "local-fixed" else "ray-2", small, corpus / "manifest.json",
                           data, address)
                report["commands"][config] = " ".join(["dancesearch", *cmd[1:]]).replace(str(data), "DATA")
                res = _run(cmd)
                report["runs"].setdefault(config, []).append(res)
                print(f"rep {rep} {config:<10} {res['seconds']:.2f} s (wall {res['wall']:.2f} s)", flush=True)
    finally:
        if _foreign_ray(temp_dir):
            print("other Ray processes run on this machine: not calling `ray stop`; stop the two nodes "
                  f"started here by hand (temp dir {temp_dir})", file=sys.stderr)
        else:
            _ray("stop")
    reference = _digest(args.work / "local-2-0")
    from indexer.digest import compare_digests, digest_counts

    report["reference_counts"] = digest_counts(reference)
    report["identical"] = {}
    for config in CONFIGS:
        for rep in range(args.repeat):
            diff = compare_digests(_digest(args.work / f"{config}-{rep}"), reference)
            report["identical"][f"{config}-{rep}"] = diff == []
            if diff:
                print(f"{config}-{rep} differs from local-2-0: {diff}", flush=True)
    report["load_end"] = os.getloadavg()
    summary = {}
    for config, runs in report["runs"].items():
        secs = [r["seconds"] for r in runs]
        summary[config] = {"median_s": statistics.median(secs), "min_s": min(secs), "max_s": max(secs),
                           "median_wall_s": statistics.median(r["wall"] for r in runs),
                           "files": runs[0]["files"],
                           "files_per_s": runs[0]["files"] / statistics.median(secs)}
    report["summary"] = summary
    # Ray's fixed cost (starting the runtime, connecting, the per-node storage check): one file with Ray
    # minus one file with the local pool; the steady rate is the files over the time left without it.
    fixed = summary["ray-fixed"]["median_s"] - summary["local-fixed"]["median_s"]
    report["ray_fixed_cost_s"] = fixed
    report["ray_steady_files_per_s"] = {c: summary[c]["files"] / max(1e-9, summary[c]["median_s"] - fixed)
                                        for c in ("ray-1", "ray-2")}
    fps = {c: summary[c]["files_per_s"] for c in CONFIGS}
    report["scaling_efficiency"] = {"local": fps["local-2"] / (2 * fps["local-1"]),
                                    "ray": fps["ray-2"] / (2 * fps["ray-1"]),
                                    "cluster": fps["cluster-2"] / (2 * fps["ray-1"])}
    report["ray_over_local"] = {"1": summary["ray-1"]["median_s"] / summary["local-1"]["median_s"],
                                "2": summary["ray-2"]["median_s"] / summary["local-2"]["median_s"],
                                "cluster-2": summary["cluster-2"]["median_s"] / summary["local-2"]["median_s"]}
    print(json.dumps({k: report[k] for k in ("summary", "scaling_efficiency", "ray_over_local",
                                             "ray_fixed_cost_s", "ray_steady_files_per_s",
                                             "reference_counts", "identical", "load_start", "load_end")},
                     indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.md:
        args.md.write_text(render(report, args.out))


def _versions() -> dict[str, str]:
    import platform
    from importlib.metadata import version

    return {"ray": version("ray"), "python": platform.python_version()}


def render(r: dict[str, Any], json_path: Path | None) -> str:
    """The report as markdown: how it was run, per-config seconds, derived figures, the machine's load."""
    s, cmds = r["summary"], r["commands"]
    names = {"local-1": "local-1 (process pool, 1 worker)", "local-2": "local-2 (process pool, 2 workers)",
             "ray-1": "ray-1 (local Ray runtime, 1 CPU)", "ray-2": "ray-2 (local Ray runtime, 2 CPUs)",
             "cluster-2": "cluster-2 (two nodes, 1 CPU each)", "local-fixed": "local-fixed (1 file)",
             "ray-fixed": "ray-fixed (1 file)"}
    ident = r["identical"]
    same = sum(ident.values())
    per_rep = {key: [run_r["seconds"] / run_l["seconds"] for run_r, run_l in zip(r["runs"][a], r["runs"][b],
                                                                                  strict=True)]
               for key, a, b in (("1 worker", "ray-1", "local-1"), ("2 workers", "ray-2", "local-2"),
                                 ("two-node cluster / local-2", "cluster-2", "local-2"))}
    clips, windows, errors = r["reference_counts"]
    lines = [
        "# Ray ingest against the local process pool",
        "",
        "Written by `scripts/bench_ray_ingest.py` (issue 12) from one run"
        + (f" (raw numbers: [{json_path.name}]({json_path.name}))" if json_path else "") + ":",
        "",
        "```bash",
        f".venv/bin/python scripts/bench_ray_ingest.py --corpus ../shared/corpus --work /tmp/ray-bench --repeat "
        f"{r['repeat']} --out docs/bench/ray-ingest.json --md docs/bench/ray-ingest.md",
        "```",
        "",
        f"Started {r['started']}; Ray {r['versions']['ray']}, Python {r['versions']['python']}, {r['cpus']} CPUs, "
        f"niceness {r['nice']}; load average (1, 5, 15 min) {', '.join(f'{x:.1f}' for x in r['load_start'])} at "
        f"the start and {', '.join(f'{x:.1f}' for x in r['load_end'])} at the end. The real CLI on a fresh "
        f"library each time, {r['repeat']} repetitions with the configurations interleaved:",
        "",
        "| config | command (`DATA` a fresh folder) |",
        "|---|---|",
        *[f"| {c} | `{cmds[c]}` |" for c in (*CONFIGS, "local-fixed", "ray-fixed")],
        f"| cluster nodes | `{cmds['cluster'][0]}`, then `{cmds['cluster'][1]}`; `ray stop` at the end |",
        "",
        f"Whole corpus: {s['local-2']['files']:,} files: {clips:,} clips of {windows:,} windows, {errors} files "
        "failed. Seconds are the ingest's own `seconds` (`Ingester.run` from start to end: discovery, Ray's "
        "start-up and every file; not the interpreter start, imports and opening the library).",
        "",
        "| config | median s | min s | max s | files/s (median) |",
        "|---|---:|---:|---:|---:|",
        *[f"| {names[c]} | {s[c]['median_s']:.2f} | {s[c]['min_s']:.2f} | {s[c]['max_s']:.2f} | "
          + (f"{s[c]['files_per_s']:.1f} |" if c in CONFIGS else "- |") for c in names],
        "",
        "| derived figure | value |",
        "|---|---|",
        f"| Ray fixed cost (start the runtime, connect, check every node's storage): ray-fixed - local-fixed | "
        f"{r['ray_fixed_cost_s']:.1f} s |",
        f"| Ray steady rate without the fixed cost: ray-1 / ray-2 | {r['ray_steady_files_per_s']['ray-1']:.1f} / "
        f"{r['ray_steady_files_per_s']['ray-2']:.1f} files/s |",
        "| scaling efficiency, files/s with 2 / (2 x files/s with 1): local pool / Ray runtime / two-node cluster "
        f"(vs ray-1) | {r['scaling_efficiency']['local']:.2f} / {r['scaling_efficiency']['ray']:.2f} / "
        f"{r['scaling_efficiency']['cluster']:.2f} |",
        *[f"| Ray time / local pool time in the same repetition, {key} (per repetition; median) | "
          f"{', '.join(f'{x:.2f}' for x in v)}; {statistics.median(v):.2f} |" for key, v in per_rep.items()],
        "| result identical to a local ingest (`indexer.digest.library_digest`: every clip's path, content hash, "
        f"store key, labels, split, details and windows; open errors) | {same} of {len(ident)} libraries equal "
        "to local-2 of repetition 1 |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
