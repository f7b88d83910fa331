"""Attribute a CPU profile of `sagewall run` to the pipeline's steps (docs/pipeline.md,
"Where the CPU goes").

usage: python3 breakdown.py PROFILE [RECORDS]

Reads `go tool pprof -traces PROFILE` and gives each sample to the first step below whose pattern
matches a frame of its stack, so every sample counts once. With RECORDS it also prints µs per
record. Standard library only.
"""

import re
import subprocess
import sys

# First match wins: the order puts a step before the steps that call it (lz4 runs inside the
# producer's request encoding, the formats inside the sink's Write).
STEPS = [
    ("compression (lz4 of the verdict batches)", r"pierrec/lz4/v4\.\(\*Writer\)"),
    ("verdict formatting (JSON, OCSF)", r"sinks\.(JSONFormat|OCSFFormat)\.Append"),
    # Detector.Score walks both models over blocks of 16 rows (scoring/forest_block.go): one step.
    ("scoring (binary model on every row, category model on the flagged ones)", r"scoring\.\(\*Detector\)\.Score|scoring\.\(\*Forest\)\.predict"),
    ("dashboard (live view, alert history)", r"internal/dashboard\."),
    ("explanations (TreeSHAP of the alerts)", r"stream\.\(\*run\)\.explain|scoring\.\(\*Explainer\)"),
    ("encoding (etl) and identity", r"stream\.\(\*run\)\.add$"),
    ("fetching (stream.GroupConsumer or kafka-go Reader, decoding, hand-off)",
     r"kafka-go\.\(\*reader\)\.run|kafka-go\.\(\*Reader\)\.|stream\.\(\*GroupConsumer\)\.|stream\.\(\*run\)\.(fetch|batch|consume)$"),
    ("producing (sinks' producer or kafka-go's Writer, record batches, I/O)",
     r"sinks\.\(\*Kafka\)\.|sinks\.\(\*producer\)\.|kafka-go\.\(\*conn\)\.run|kafka-go\.\(\*Writer\)|kafka-go\.\(\*partitionWriter\)|kafka-go\.\(\*writeBatch\)"),
    ("offsets, acknowledgements, commits", r"stream\.\(\*run\)\.(settle|commit|commitLoop|release)|offsetTrackers|CommitMessages"),
    ("metrics and logging", r"prometheus|log/slog"),
    ("garbage collection", r"runtime\.(gcBgMarkWorker|gcAssist|bgsweep|bgscavenge|gcStart|markroot)"),
    ("scheduler, timers, network poller", r"runtime\.(schedule|findRunnable|mcall|park_m|netpoll|sysmon|runqgrab)"),
]


def samples(profile):
    out = subprocess.run(["go", "tool", "pprof", "-traces", profile], capture_output=True, text=True, check=True).stdout
    for block in out.split("-----------+-------------------------------------------------------")[1:]:
        lines = [line for line in block.strip().splitlines() if line.strip()]
        m = re.match(r"\s*([\d.]+)(m?s)\s+(.*)", lines[0]) if lines else None
        if m:
            seconds = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
            yield seconds, [m.group(3)] + [line.strip() for line in lines[1:]]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--other":
        return other(sys.argv[2])
    profile = sys.argv[1]
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    by_step, total = {}, 0.0
    for seconds, frames in samples(profile):
        total += seconds
        step = next((name for name, rx in STEPS if any(re.search(rx, f) for f in frames)), "other")
        by_step[step] = by_step.get(step, 0.0) + seconds
    print("| step | CPU s | share |" + (" µs/record |" if records else ""))
    print("|---|---|---|" + ("---|" if records else ""))
    for name in [n for n, _ in STEPS] + ["other", "total"]:
        s = total if name == "total" else by_step.get(name, 0.0)
        row = f"| {name} | {s:.2f} | {100 * s / total:.0f} % |"
        print(row + (f" {1e6 * s / records:.2f} |" if records else ""))


def other(profile):
    """Prints the leaf functions of the samples no step claims, largest first."""
    leaves = {}
    for seconds, frames in samples(profile):
        if not any(re.search(rx, f) for _, rx in STEPS for f in frames):
            leaves[frames[0]] = leaves.get(frames[0], 0.0) + seconds
    for name, s in sorted(leaves.items(), key=lambda kv: -kv[1])[:25]:
        print(f"{s:6.2f} s  {name}")


if __name__ == "__main__":
    main()
