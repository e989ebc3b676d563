#!/usr/bin/env python3
"""CPU time and context switches per thread kind while a command runs.

    bench/threads.py PID[,PID...] COMMAND [ARGS...]

Runs COMMAND (a load generator that prints a JSON line with "requests", such as build/bench/rpc_bench or wrk with BENCH_OUT=/dev/stdout),
then prints, for each process in PIDS and each thread name in it (NNG names its
threads nng:task, nng:poll:epoll, ...; libmicrohttpd's are MHD-worker), the CPU
seconds and context switches used meanwhile, in total and per request.
Used in docs/PERFORMANCE.md to count the thread hand-offs of one RPC.
"""
import json
import os
import subprocess
import sys


def snap(pids):
    d = {}
    for pid in pids:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                st = open(f"/proc/{pid}/task/{t}/stat").read()
                status = open(f"/proc/{pid}/task/{t}/status").read()
            except OSError:
                continue
            comm = st[st.index("(") + 1:st.rindex(")")]
            rest = st[st.rindex(")") + 2:].split()
            cs = sum(int(line.split(":")[1]) for line in status.splitlines() if "ctxt_switches" in line)
            d[(pid, t)] = (comm, int(rest[11]) + int(rest[12]), cs)
    return d


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    pids = [int(p) for p in argv[1].split(",")]
    tick = os.sysconf("SC_CLK_TCK")
    names = {pid: open(f"/proc/{pid}/comm").read().strip() for pid in pids}
    a = snap(pids)
    out = subprocess.run(argv[2:], capture_output=True, text=True).stdout
    b = snap(pids)
    n = None
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                n = json.loads(line).get("requests", n)
            except ValueError:
                pass
    if not n:
        print("threads: the command printed no JSON line with \"requests\"", file=sys.stderr)
        return 1
    agg = {}
    for k, (comm, cpu, cs) in b.items():
        _, cpu0, cs0 = a.get(k, (comm, 0, 0))
        e = agg.setdefault((k[0], comm), [0, 0, 0])
        e[0] += cpu - cpu0
        e[1] += cs - cs0
        e[2] += 1
    print(f"{n} requests")
    print(f"{'process':12s} {'threads':16s} {'n':>3s} {'CPU s':>7s} {'switches':>9s} {'CPU us/req':>11s} {'switches/req':>13s}")
    for pid in pids:
        tot = [0, 0]
        for (p, comm), (cpu, cs, nt) in sorted(agg.items()):
            if p != pid or (cpu == 0 and cs == 0):
                continue
            tot[0] += cpu
            tot[1] += cs
            print(f"{names[pid]:12s} {comm:16s} {nt:3d} {cpu / tick:7.2f} {cs:9d} {cpu / tick * 1e6 / n:11.0f} {cs / n:13.2f}")
        print(f"{names[pid]:12s} {'(all)':16s} {'':3s} {tot[0] / tick:7.2f} {tot[1]:9d} {tot[0] / tick * 1e6 / n:11.0f} {tot[1] / n:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
