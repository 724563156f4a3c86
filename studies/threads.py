"""Threads: the main job's wall time under torch's thread settings, idle and beside busy work.

Times ``sk-uae augment --seeds 1 --no-plots`` (training and attacks on
digits; a proxy of the main job) in a fresh process for each setting:

* ``default``: nothing set (torch's own thread count, one per core);
* ``omp1``: ``OMP_NUM_THREADS=1`` (one thread everywhere);
* ``torch2``: ``torch.set_num_threads(2)`` before the CLI runs;

once on the machine as it is ("idle") and once beside ``--busy`` processes
spinning in ``while True: pass`` ("busy"). The load average before every run
is recorded, since the machine may be shared. ``--label`` names the code
version (e.g. ``before`` / ``after``); results of other labels already in
the JSON file are kept, so two runs on two commits fill one table.

Usage::

    python -m studies.threads --label after [--repeats 1] [--busy 2]
        [--settings default,omp1,torch2] [--loads idle,busy] [--cli-args "..."]
        [--out studies/results/threads.json]
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

from studies._common import RESULTS, ROOT, environment, write_json

SETTINGS = {
    "default": ({}, ""),
    "omp1": ({"OMP_NUM_THREADS": "1"}, ""),
    "torch2": ({}, "import torch; torch.set_num_threads(2); "),
}


def time_cli(setting, cli_args):
    env_extra, prelude = SETTINGS[setting]
    env = dict(os.environ, **env_extra)
    with tempfile.TemporaryDirectory() as out:
        argv = ["augment", *shlex.split(cli_args), "--out", out]
        code = f"{prelude}from sk_uae.cli import main; main({argv!r})"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0


def spinners(n):
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--label", required=True, help="code version, e.g. before / after")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--busy", type=int, default=2, help="spinning processes in the busy runs")
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--loads", default="idle,busy")
    p.add_argument("--cli-args", default="--seeds 1 --no-plots")
    p.add_argument("--out", default=os.path.join(RESULTS, "threads.json"))
    args = p.parse_args()

    runs = []
    for load in args.loads.split(","):
        procs = spinners(args.busy) if load == "busy" else []
        try:
            if procs:
                time.sleep(2)
            # settings interleaved, so that a change of the machine's load hits each alike
            for _ in range(args.repeats):
                for setting in args.settings.split(","):
                    loadavg = os.getloadavg()[0]
                    seconds = time_cli(setting, args.cli_args)
                    print(f"{args.label:8s} {load:5s} {setting:8s} {seconds:7.1f} s "
                          f"(load before {loadavg:.2f})", flush=True)
                    runs.append({"label": args.label, "load": load, "setting": setting,
                                 "seconds": round(seconds, 2), "loadavg_before": loadavg})
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()

    old = {}
    if os.path.isfile(args.out):
        with open(args.out) as fh:
            old = json.load(fh)
    kept = [r for r in old.get("runs", []) if r["label"] != args.label]
    payload = {"environment": environment(), "command": f"sk-uae augment {args.cli_args}",
               "busy_processes": args.busy, "runs": kept + runs}
    write_json(args.out, payload)


if __name__ == "__main__":
    main()
