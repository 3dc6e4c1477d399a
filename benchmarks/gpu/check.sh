#!/usr/bin/env bash
# The GPU check: one prepared, time-boxed command that turns a short lease on one GPU into results.
#
#   bash benchmarks/gpu/check.sh OUT_DIR [--device cuda|cpu] [--budget SECONDS] [--only GLOB ...]
#                                [--part 1 | --part 2 [--resume-from RESULTS_TAR]]
#
# Runs from the repository as it is (no install: PYTHONPATH points at it), with the Python in
# $PYTHON (default python3), inside a total time budget: on a GPU 540 s for one call (a lease's
# command runs 10 minutes at most) and 300 s for each of two (below), 300 s on a CPU.
# The steps, most important first; each gets what the budget has left after the reserve of the
# steps behind it, and a step cut short or left out is written down, never silently lost:
#   1. env        the GPU, driver, torch and Python
#      peers      the public implementations measured beside ours (the `peers` extra: diffusers,
#                 rin-pytorch), installed from the wheels in $REPO/.whl (or $PEER_WHEELS) without
#                 network; `python benchmarks/gpu/peer_wheels.py` fetches them beforehand, on a
#                 machine that has a network. Without them the peer cells end "unsupported".
#   2. bare-loop  the harness's median against a bare CUDA-event loop on DiT-XL/2 b64 forward
#      peak       the dense matmul rate timed five ways, with the SM clock, power and clock-event
#                 reasons NVML read during each (benchmarks/gpu/peak.py): the MFU denominator
#   3. suite      `rinbench run gpu-check` (bench/suites/gpu-check.toml: its cells in order of
#                 importance, with NVML energy and the RIN-256/ADM-256 train-step profiles);
#                 cells the budget cut off are listed in skipped.txt; with --prestart, as every
#                 run below: each cell's process starts, imports torch and counts its cell,
#                 while the one before it runs, whose warm-up and timed calls (on a CPU its first
#                 call too) wait until that is done
#      norms      `rinbench run norms` (bench/suites/norms.toml: ADM-256 b16's and RIN-256 b32's
#                 train steps with their norms in bf16, against the memory of the official code; on
#                 an H100 the plain ADM-256 b16 step does not fit, its twin here should), after
#                 the suite in one call and before the rest of it in the second of two, into a
#                 results folder of its own (a lever cell has its plain twin's id); the summary sets
#                 each beside its twin; cells the budget cut off are listed in skipped-norms.txt (in
#                 results.tar.gz and the summary)
#      levers     `rinbench run levers` (bench/suites/levers.toml: the target train steps with
#                 channels-last, fused AdamW, flash attention), the same way: skipped-levers.txt
#      memory     `rinbench run memory` (bench/suites/memory.toml: ADM-256 b16's train step with
#                 activation checkpointing), the same way: skipped-memory.txt
#   4. gpu-tests  `pytest -m gpu` over the test files that hold GPU tests
#   5. report     `rinbench report` and `rinbench claims` on the results; summary.md with the targets
#                 and the hardware comparison of this run beside the committed runs of other machines
#                 (benchmarks/results/hardware-*, benchmarks/results/gpu-check-*/results), and
#                 where each call's seconds went, per part (bench/timespent.py)
# OUT_DIR receives at most 8 files of at most 16 MiB: check.log, summary.md, results.tar.gz (the
# results folder with traces, the levers' results folder, the report folder, bare_loop.json,
# peak.json, steps.tsv, skipped-<lever suite>.txt), report.html, claims.md,
# pytest-gpu.log, skipped.txt. check.log is written as the call goes, and results.tar.gz after
# every step and every 15 s of one ($GPU_CHECK_PACK_EVERY_S; without the traces and memory
# snapshots until the last), so that a call the lease cuts short, its device time running out
# before the budget does, still brings back the cells it measured; a cut first call's
# results.tar.gz serves the second as call1.tar.gz all the same.
#
# Two calls cover more of the list than one: `--part 1` runs the machine's checks and as much of the
# suite as its budget allows, without the tests and the report; `--part 2` takes up its records,
# measures only the cells still missing (`rinbench run --resume`: nothing is measured twice, nor the
# bare loop and the matmul peak again), then the lever suites, the tests and the report over both.
# The first call leaves its results.tar.gz in $GPU_CHECK_STATE (default $REPO/.gpu-check, ignored by
# git, so a warm machine keeps it between calls), where the second finds it; for a fresh machine,
# carry the first call's results.tar.gz there as call1.tar.gz (the recipe below), or anywhere and
# name it with --resume-from. torch.compile's caches live on the machine (/tmp/torchinductor_$USER),
# so a second call on the same warm machine compiles from them. calls.tsv and the summary say which
# cells each call measured. Without --part: one call, all steps.
#
# A lease of 15 minutes of device time, the machine's start (a minute or two) included, and a
# machine that goes back after 30 s idle: two calls of 300 s, the second asked for as soon as the
# first returns, leave a few minutes for the start, the transfers and each call's Python and torch
# start-up. From the checkout, on the machine that has a network first:
#   python benchmarks/gpu/peer_wheels.py --skip torchvision    # the peers' wheels, into .whl/
#                                              (17 MiB: the image has torchvision 0.26.0, and the
#                                              checkout and .whl travel in 64 MiB all told)
#   run: bash benchmarks/gpu/check.sh "$OUT" --part 1          # carry [".whl"], timeout_s 420
#   mkdir -p .gpu-check && cp FIRST_CALL_FILES/results.tar.gz .gpu-check/call1.tar.gz
#   run: bash benchmarks/gpu/check.sh "$OUT" --part 2          # at once, timeout_s 420,
#                                              carry [".whl", ".gpu-check"]: the second call then
#                                              finds the first's records on a fresh machine too;
#                                              where `status` leaves it under 420 s of device
#                                              time, add --budget (that time less 90 s)
# then commit both calls' files under benchmarks/results/gpu-check-<device>/, with the second's
# results.tar.gz unpacked there (its results/ is what later checks set beside their own), and give
# the machine back.
#
# `--only GLOB` (repeatable) passes on to `rinbench run gpu-check --only`: a later lease can measure
# what an earlier one's skipped.txt lists (`--only '*.compile.cuda'`). The levers step runs the
# cells of the levers suite that --only selects, and none when it selects none of them: `--only
# 'adm-in256.r256.b16.bf16.train_step.*'` times the plain ADM-256 train step and its lever twin.
#
# `--device cpu` is the dry run: the same steps with the tiny presets in fp32 (the suite's CPU
# grids), in a few minutes; tests/test_gpu_check.py runs it so that this script cannot rot.
set -uo pipefail

usage() { echo "check.sh: ${1:+$1; }usage: bash benchmarks/gpu/check.sh OUT_DIR [--device cuda|cpu] [--budget SECONDS] [--only GLOB ...] [--part 1 | --part 2 [--resume-from RESULTS_TAR]]" >&2; exit 2; }

[ $# -ge 1 ] || usage "no OUT_DIR"
case "$1" in -*) usage "OUT_DIR comes first" ;; esac
OUT=$1
shift
DEVICE=cuda
BUDGET=
ONLY=()
PART=
RESUME_FROM=
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=${2:-}; shift 2 || usage "--device needs a value" ;;
        --budget) BUDGET=${2:-}; shift 2 || usage "--budget needs a value" ;;
        --only) [ -n "${2:-}" ] || usage "--only needs a cell-id pattern"; ONLY+=(--only "$2"); shift 2 ;;
        --part) PART=${2:-}; shift 2 || usage "--part needs 1 or 2" ;;
        --resume-from) RESUME_FROM=${2:-}; shift 2 || usage "--resume-from needs the first call's results.tar.gz" ;;
        *) usage "unknown argument '$1'" ;;
    esac
done
case "$DEVICE" in cuda|cpu) ;; *) echo "check.sh: --device must be cuda or cpu, got '$DEVICE'" >&2; exit 2 ;; esac
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Where the first of two calls leaves its results for the second (kept by a warm machine).
STATE=${GPU_CHECK_STATE:-$REPO/.gpu-check}
case "$PART" in
    ''|1) [ -z "$RESUME_FROM" ] || usage "--resume-from goes with --part 2" ;;
    2) if [ -z "$RESUME_FROM" ]; then
           RESUME_FROM=$STATE/call1.tar.gz
           [ -f "$RESUME_FROM" ] || { echo "check.sh: --part 2: no first call's results at '$RESUME_FROM' (a fresh machine?): carry its results.tar.gz and name it with --resume-from" >&2; exit 2; }
           # A first call of another day's lease is not this one's: taken only when named.
           age=$(($(date +%s) - $(stat -c %Y "$RESUME_FROM")))
           [ "$age" -le 3600 ] || { echo "check.sh: --part 2: the first call's results at '$RESUME_FROM' are $((age / 60)) minutes old: name them with --resume-from to take them up anyway" >&2; exit 2; }
       fi
       [ -f "$RESUME_FROM" ] || { echo "check.sh: --resume-from: no file at '$RESUME_FROM'" >&2; exit 2; }
       # A dry run's first call (--device cpu) left in the state folder is not a GPU's.
       first_device=$(tar -xzOf "$RESUME_FROM" device 2>/dev/null)
       [ -z "$first_device" ] || [ "$first_device" = "$DEVICE" ] || { echo "check.sh: --part 2: the first call's results at '$RESUME_FROM' were measured with --device $first_device, not $DEVICE" >&2; exit 2; }
       RESUME_FROM=$(cd "$(dirname "$RESUME_FROM")" && pwd)/$(basename "$RESUME_FROM") ;;
    *) echo "check.sh: --part must be 1 or 2, got '$PART'" >&2; exit 2 ;;
esac
CALL=${PART:-1}
if [ -z "$BUDGET" ]; then
    if [ "$DEVICE" = cpu ]; then BUDGET=300; elif [ -n "$PART" ]; then BUDGET=300; else BUDGET=540; fi
fi
case "$BUDGET" in ''|*[!0-9]*) echo "check.sh: --budget must be whole seconds, got '$BUDGET'" >&2; exit 2 ;; esac
# How often a running step's records so far are packed into $OUT (pack_while_stepping).
PACK_EVERY_S=${GPU_CHECK_PACK_EVERY_S:-15}
case "$PACK_EVERY_S" in ''|*[!0-9]*|0) echo "check.sh: GPU_CHECK_PACK_EVERY_S must be whole seconds, got '$PACK_EVERY_S'" >&2; exit 2 ;; esac

PY=${PYTHON:-python3}
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
echo "$DEVICE" >"$WORK/device"  # packed: a second call checks it measures on the first's device
mkfifo "$WORK/step.fifo" || exit 2  # how a step tells its packer it ended (pack_while_stepping)
RESULTS=$WORK/results
LEVERS=$WORK/levers  # the lever suites' records: apart, as their ids are their plain twins'
# The suites of lever cells, each run into $LEVERS/<suite>, least important last.
LEVER_SUITES=(norms levers memory)
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
cd "$REPO" || exit 2
exec > >(tee -a "$OUT/check.log") 2>&1
TEE_PID=$!

if [ -n "$RESUME_FROM" ]; then
    # The first call's folder: its records, its checks' JSON and its steps and calls, kept apart.
    tar -xzf "$RESUME_FROM" -C "$WORK" || { echo "check.sh: cannot unpack '$RESUME_FROM'" >&2; exit 2; }
    [ -f "$WORK/steps.tsv" ] && mv "$WORK/steps.tsv" "$WORK/steps-call1.tsv"
    rm -rf "$WORK/report" "$WORK/summary.md"
fi

START=$(date +%s)
DEADLINE=$((START + BUDGET))
# Seconds kept back for the steps behind each step (a GPU's report step reads a few hundred records).
RESERVE_TESTS=$([ "$DEVICE" = cuda ] && echo 90 || echo 60)
RESERVE_REPORT=60
if [ "$PART" = 1 ]; then  # the tests and the report are the second call's
    RESERVE_TESTS=0
    RESERVE_REPORT=15
fi
: >"$WORK/steps.tsv"

left() { echo $((DEADLINE - $(date +%s))); }

# step NAME LIMIT_S RESERVE_S COMMAND...: run COMMAND under `timeout` for at most LIMIT_S, and never
# into the last RESERVE_S seconds of the budget; SIGTERM first (the runner keeps finished cells and
# kills the one in flight), SIGKILL 20 s later. Appends a line to steps.tsv.
step() {
    local name=$1 limit=$2 reserve=$3
    shift 3
    local allowed=$(($(left) - reserve))
    [ "$allowed" -lt "$limit" ] && limit=$allowed
    if [ "$limit" -lt 5 ]; then
        echo "== $name: skipped, the budget is spent"
        printf '%s\tskipped (budget)\t0\t\t%s\t%s\n' "$name" "$limit" "$CALL" >>"$WORK/steps.tsv"
        return 0
    fi
    echo "== $name (at most ${limit} s): $*"
    local began=$(date +%s)
    pack_while_stepping <"$WORK/step.fifo" &
    local packer=$!
    exec 4>"$WORK/step.fifo"
    timeout -s TERM -k 20 "$limit" "$@" 4>&-
    local code=$?
    exec 4>&-  # the packer reads the end of the fifo and stops, after a pack in flight
    wait "$packer"
    local took=$(($(date +%s) - began))
    local status=ok
    if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
        status="cut at its time limit"
    elif [ "$code" -ne 0 ]; then
        status=failed
    fi
    echo "== $name: $status (exit $code, ${took} s)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$took" "$code" "$limit" "$CALL" >>"$WORK/steps.tsv"
    pack_so_far
    return 0
}

# What is measured so far, without the traces (milliseconds), after every step and every
# PACK_EVERY_S seconds of one: a call the lease cuts short, its device time running out before this
# budget does, still brings back what its cells measured. A record being written as tar reads it
# is cut off in the pack, which readers skip and a resumed run writes past.
pack_so_far() { pack --exclude='*.json.gz' --exclude='*.pickle' 2>/dev/null; }
# Pack every PACK_EVERY_S seconds until standard input, the step's fifo, ends: the step's end
# closes it (so does this script's death), and a wait on the fifo costs nothing while it runs.
pack_while_stepping() {
    local status
    while true; do
        read -r -t "$PACK_EVERY_S" _
        status=$?
        [ "$status" -gt 128 ] || return 0  # not a time-out: the fifo ended
        pack_so_far
    done
}

# pack [TAR OPTION ...]: $OUT/results.tar.gz from what the work folder holds so far, replaced whole
# (written beside it, then renamed) so that a kill mid-way leaves the last one.
pack() {
    local names=() name
    for name in results summary.md steps.tsv device levers report bare_loop.json peak.json calls.tsv steps-call1.tsv; do
        [ -e "$WORK/$name" ] && names+=("$name")
    done
    for name in "${LEVER_SUITES[@]}"; do
        [ -e "$WORK/skipped-$name.txt" ] && names+=("skipped-$name.txt")
    done
    tar -czf "$OUT/results.part.tar.gz" -C "$WORK" "$@" "${names[@]}" \
        && mv -f "$OUT/results.part.tar.gz" "$OUT/results.tar.gz"
}

machine_facts() {
    date -u +%Y-%m-%dT%H:%M:%SZ
    git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "no git"
    if [ "$DEVICE" = cuda ]; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
    fi
    "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
}

export DEVICE REPO PY
export -f machine_facts

if [ "$DEVICE" = cuda ]; then
    BARE=(--device cuda --preset dit-xl-2 --batch 64 --dtype bf16)
    BARE_LIMIT=75
    PEAK=(--device cuda)
    TEST_LIMIT=90
else
    BARE=(--device cpu --preset dit-tiny --batch 2 --dtype fp32 --seconds 0.2)
    BARE_LIMIT=40
    PEAK=(--device cpu --warm-up 0.2)
    TEST_LIMIT=60
fi

echo "GPU check: device $DEVICE, budget ${BUDGET} s, repository $REPO, work folder $WORK"
step env 30 $((RESERVE_TESTS + RESERVE_REPORT)) bash -c machine_facts
WHEELS=${PEER_WHEELS:-$REPO/.whl}
install_peers() {
    # pip installs only what the machine lacks; a Python that marks itself externally managed is
    # this lease's own, thrown away after it.
    "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" 'diffusers>=0.30' 'rin-pytorch>=0.7' \
        || "$PY" -m pip install --quiet --break-system-packages --no-index --find-links "$WHEELS" \
            'diffusers>=0.30' 'rin-pytorch>=0.7'
}
export WHEELS
export -f install_peers
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    step peers 120 $((RESERVE_TESTS + RESERVE_REPORT)) bash -c install_peers
elif ! "$PY" -c 'import diffusers, rin_pytorch' 2>/dev/null; then
    echo "== peers: no wheels in $WHEELS and not installed: the peer cells will end unsupported"
fi
# The second call has the first's bare loop and matmul peak (in the unpacked folder): not again.
if [ ! -f "$WORK/bare_loop.json" ]; then
    step bare-loop "$BARE_LIMIT" $((RESERVE_TESTS + RESERVE_REPORT)) \
        "$PY" benchmarks/gpu/bare_loop.py "${BARE[@]}" --out "$WORK/bare_loop.json"
fi
if [ ! -f "$WORK/peak.json" ]; then
    step peak 40 $((RESERVE_TESTS + RESERVE_REPORT)) \
        "$PY" benchmarks/gpu/peak.py "${PEAK[@]}" --out "$WORK/peak.json"
fi
records_so_far() { cat "$RESULTS"/gpu-check/*.jsonl 2>/dev/null | wc -l; }
# The gpu-check suite, resumed where a record exists; calls.tsv gets how many records it added.
run_suite() {
    local resume=() before
    compgen -G "$RESULTS/gpu-check/*.jsonl" >/dev/null && resume=(--resume)
    before=$(records_so_far)
    step suite "$BUDGET" $((RESERVE_TESTS + RESERVE_REPORT)) \
        "$PY" -m bench run gpu-check --device "$DEVICE" --out "$RESULTS" --no-progress --no-figures --prestart "${resume[@]}" "${ONLY[@]}"
    printf '%s\t%s\n' "$CALL" $(($(records_so_far) - before)) >>"$WORK/calls.tsv"
    pack_so_far
}
# levers_selected SUITE: 0 unless --only selects no cell of that lever suite (any other failure is
# the step's to show); asked once per suite (each ask starts a Python that imports torch).
declare -A SELECTED=()
levers_selected() {
    [ ${#ONLY[@]} -eq 0 ] && return 0
    if [ -z "${SELECTED[$1]:-}" ]; then
        local said
        said=$("$PY" -m bench run "$1" --device "$DEVICE" --dry-run "${ONLY[@]}" 2>&1 >/dev/null)
        case "$said" in *"matches none"*) SELECTED[$1]=no ;; *) SELECTED[$1]=yes ;; esac
    fi
    [ "${SELECTED[$1]}" = yes ]
}
# The lever suites, each into $LEVERS/<suite>, resumed where a record exists.
run_lever_suites() {
    local suite resume
    for suite in "${LEVER_SUITES[@]}"; do
        if levers_selected "$suite"; then
            resume=()
            compgen -G "$LEVERS/$suite/*.jsonl" >/dev/null && resume=(--resume)
            step "$suite" "$BUDGET" $((RESERVE_TESTS + RESERVE_REPORT)) \
                "$PY" -m bench run "$suite" --device "$DEVICE" --out "$LEVERS" --no-progress --no-figures --prestart "${resume[@]}" "${ONLY[@]}"
        else
            echo "== $suite: --only selects no cell of the $suite suite; not run"
        fi
    done
}
# One call: the suite, then the lever suites. Two: the first spends its time on the suite (its
# first cells are the lever cells' plain twins); the second runs the lever suites first, as issue
# 23's before-and-after needs them more than the rest of the suite, then the rest of the suite.
case "$PART" in
    1) run_suite ;;
    2) run_lever_suites; run_suite ;;
    *) run_suite; run_lever_suites ;;
esac
# The tests and the report are the last call's.
if [ "$PART" != 1 ]; then
    # Only the test files that hold GPU tests: collecting the whole suite would import every
    # optional library (diffusers, rin-pytorch, ...) for nothing. The pytest-benchmark smoke runs
    # last (the suite times the same steps): a step cut at its limit loses the least, and -v
    # writes each test's outcome as it ends, so a cut log still says which passed and which failed;
    # --durations says what the next lease's limit must hold.
    GPU_TEST_FILES=$(grep -rl --include='test_*.py' 'mark.gpu' tests | sort | awk -F/ 'NF == 2 {print} NF > 2 {later = later " " $0} END {print later}' | tr '\n' ' ')
    step gpu-tests "$TEST_LIMIT" "$RESERVE_REPORT" \
        bash -c "'$PY' -m pytest -m gpu -v --durations=15 -p no:cacheprovider $GPU_TEST_FILES >'$WORK/pytest-gpu.log' 2>&1; code=\$?; tail -n 25 '$WORK/pytest-gpu.log'; exit \$code"
fi

# What the budget left out: the selected cells without a record (all of them where a suite never
# started), of the suite and, in a call that runs them, of the lever suites; asked in one Python
# (each start imports torch, on the lease's time).
LEFT_OUT=(--suite gpu-check "$RESULTS" "$WORK/skipped.txt")
if [ "$PART" != 1 ]; then
    for suite in "${LEVER_SUITES[@]}"; do
        LEFT_OUT+=(--suite "$suite" "$LEVERS" "$WORK/skipped-$suite.txt")
    done
fi
"$PY" benchmarks/gpu/left_out.py --device "$DEVICE" "${ONLY[@]}" "${LEFT_OUT[@]}" \
    || echo "== left_out.py failed: the lists of left-out cells may be missing"
echo "== cells left out by the budget: $(wc -l <"$WORK/skipped.txt" 2>/dev/null) of the suite"
if [ "$PART" != 1 ]; then
    for suite in "${LEVER_SUITES[@]}"; do
        echo "== cells of the $suite suite left out by the budget: $(wc -l <"$WORK/skipped-$suite.txt" 2>/dev/null)"
    done
fi

if [ "$PART" != 1 ] && compgen -G "$RESULTS/gpu-check/*.jsonl" >/dev/null; then
    step report 60 0 "$PY" -m bench report "$RESULTS/gpu-check" --out "$WORK/report"
    step claims 30 0 bash -c "'$PY' -m bench claims '$RESULTS' --format markdown >'$WORK/claims.md'"
fi
# The summary's hardware comparison, in the last call: this run beside the committed runs of other
# machines (the hardware suite's CPU runs, earlier GPU checks' suite records).
BESIDE=()
if [ "$PART" != 1 ]; then
    for dir in "$REPO"/benchmarks/results/hardware-* "$REPO"/benchmarks/results/gpu-check-*/results; do
        [ -d "$dir" ] && BESIDE+=(--beside "$dir")
    done
fi
"$PY" benchmarks/gpu/summary.py "$WORK" "${BESIDE[@]}" >"$WORK/summary.md"

# Bring back at most 8 files of at most 16 MiB each.
LIMIT_BYTES=$((16 * 1024 * 1024))
pack || echo "== packing the results failed: results.tar.gz is the last pack, without traces"
if [ "$(stat -c %s "$OUT/results.tar.gz")" -gt "$LIMIT_BYTES" ]; then
    echo "== results.tar.gz over 16 MiB: packed again without the traces and memory snapshots"
    pack --exclude='*.json.gz' --exclude='*.pickle'
fi
if [ "$PART" = 1 ]; then  # for the second call, on this machine while it stays warm
    mkdir -p "$STATE" && cp "$OUT/results.tar.gz" "$STATE/call1.tar.gz" \
        && echo "== the second call (--part 2) takes up $STATE/call1.tar.gz"
fi
cp "$WORK/summary.md" "$WORK/skipped.txt" "$OUT/"
for name in pytest-gpu.log claims.md; do
    [ -f "$WORK/$name" ] && cp "$WORK/$name" "$OUT/"
done
[ -f "$WORK/report/report.html" ] && cp "$WORK/report/report.html" "$OUT/"
for file in "$OUT"/*; do
    if [ "$(stat -c %s "$file")" -gt "$LIMIT_BYTES" ]; then
        echo "== $(basename "$file") is over 16 MiB: removed"
        rm -f "$file"
    fi
done
echo "GPU check done in $(($(date +%s) - START)) s; summary:"
cat "$WORK/summary.md"
failed=$(cut -f2 "$WORK/steps.tsv" | grep -c '^failed$')
rm -rf "$WORK"
exec 1>&- 2>&-
wait "$TEE_PID" 2>/dev/null
# 1 when a step failed (a failed cell fails the suite step: the summary says which), else 0.
[ "$failed" -eq 0 ]
