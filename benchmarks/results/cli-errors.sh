#!/usr/bin/env bash
# Runs the bad-input cases of cli-errors.md through the real launcher, in a scratch directory
# (argument 1, default: a new temp directory), and prints one tab-separated row per case:
# command, exit status, stderr (lines joined by CR).   Usage: benchmarks/results/cli-errors.sh [DIR]
set -u
L="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/leviathan"
D="${1:-$(mktemp -d)}"
mkdir -p "$D"
cd "$D"
python3 - <<'PY'
import random
words=["the","king","queen","lord","is","of","my","and","shall","thou","not","to","be","good"]
r=random.Random(1); s=[]
n=0
while n<4000:
    w=r.choice(words); p=r.randrange(10); t=w+(",\n" if p==0 else ".\n" if p==1 else " "); s.append(t); n+=len(t)
open("text.txt","w").write("".join(s)[:4000])
open("short.txt","w").write("the king is")
open("unknown.txt","w").write("".join(s)[:2000]+"Zebra §")
open("empty.txt","w").write("")
open("badutf8.txt","wb").write(b"the king \xff\xfe is good\n"*20)
open("notckpt.safetensors","w").write("definitely not a checkpoint")
import struct, json
h=json.dumps({"__metadata__":{"format":"pt"},"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}).encode()
open("other.safetensors","wb").write(struct.pack("<Q",len(h))+h+b"\0"*4)
PY
mkdir -p adir
rm -f pipe loop.safetensors; mkfifo pipe; ln -s loop.safetensors loop.safetensors
# a good run to get a model and a state
if [ ! -f good/model.safetensors ]; then
  "$L" train --data text.txt --out good --steps 4 --n-layer 1 --n-embd 16 --n-head 2 --block-size 16 --batch-size 2 --eval-interval 2 --eval-batches 1 --sample-tokens 0 --threads 1 --backend java >/dev/null 2>&1
fi
head -c 3000 good/model.safetensors > truncated.safetensors
rm -rf torn; cp -r good torn; head -c 100 good/config.json > torn/config.json
rm -rf badstate; cp -r good badstate; python3 - <<'PY'
b=bytearray(open("badstate/state.safetensors","rb").read()); b[-1000:-996]=b"\xff\xff\xff\x7f"; open("badstate/state.safetensors","wb").write(b)
PY
rm -rf mixed; cp -r good mixed; sed -i 's/"n_embd": 16/"n_embd": 32/' mixed/config.json
rm -rf swapped; cp -r good swapped; cp good/model.safetensors swapped/state.safetensors
rm -rf nostate; mkdir -p nostate; cp good/config.json nostate/
# a diverged model: finite weights (+-1e30) that overflow the forward pass
python3 - <<'PY'
import json, struct
b = bytearray(open("good/model.safetensors", "rb").read())
n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
for k, v in h.items():
    if k == "__metadata__": continue
    s, e = v["data_offsets"]
    for i, o in enumerate(range(8 + n + s, 8 + n + e, 4)): b[o:o + 4] = struct.pack("<f", 1e30 if i % 2 == 0 else -1e30)
open("diverged.safetensors", "wb").write(b)
PY
# issue 25: someone's directory, a run kept as a model only, a linked lock, a FIFO state, damaged token files
rm -rf mine kept linked fifostate goodcopy prep
mkdir -p mine; echo '{"theme": "dark"}' > mine/config.json; echo notes > mine/notes.txt
mkdir -p kept; cp good/config.json good/model.safetensors kept/
mkdir -p linked; echo precious > precious.txt; ln -s ../precious.txt linked/lock
mkdir -p fifostate; cp good/config.json fifostate/; mkfifo fifostate/state.safetensors
cp -r good goodcopy
"$L" prepare --data text.txt --out prep >/dev/null 2>&1
python3 - <<'PY'
b = bytearray(open("prep/text.txt.tokens", "rb").read())
m = bytearray(b); m[0] = ord("X"); open("magic.tokens", "wb").write(m)
i = bytearray(b); i[-1000] = 250; open("ids.tokens", "wb").write(i)
open("big.txt", "w").write(open("text.txt").read() * 8)
PY
printf 'k1\nk2\n' > twolines.key
# a full disk (root only: a 256 KiB tmpfs holding a copy of good/, filled up but for a few KiB)
FULL=""
if [ "$(id -u)" = 0 ] && mkdir -p fullfs && { mountpoint -q fullfs || mount -t tmpfs -o size=256k tmpfs fullfs 2>/dev/null; }; then
  rm -rf fullfs/*; cp -r good fullfs/run
  free=$(df -k --output=avail fullfs | tail -1); dd if=/dev/zero of=fullfs/filler bs=1k count=$((free - 6)) 2>/dev/null
  FULL=1
fi
M=good/model.safetensors
TRAIN_SMALL="--n-layer 1 --n-embd 16 --n-head 2 --block-size 16 --steps 2 --threads 1 --backend java --sample-tokens 0"
cases=(
"--no-such-flag"
"frobnicate"
"train --no-such-flag"
"train --steps ten"
"train --steps -5 --data text.txt"
"train --lr abc"
"train --lr 0 --data text.txt"
"train --lr NaN --data text.txt"
"train --batch-size 0 --data text.txt"
"train --n-embd 130 --n-head 4 --data text.txt"
"train --lags 64 --data text.txt"
"train --attention sparse --data text.txt"
"train --optimizer adam --data text.txt"
"train --nan-policy ignore --data text.txt"
"train --impl fast --data text.txt"
"train --backend tpu --data text.txt --n-layer 1 --n-embd 16 --n-head 2 --block-size 16 --steps 2 --out r1"
"train --threads -1 --data text.txt"
"train --eval-interval 0 --data text.txt"
"train --stop-after 0 --data text.txt $TRAIN_SMALL --out r2"
"train --n-embd 1048576 --n-head 1 --block-size 1024 --lags 1 --data text.txt"
"train --data /no/such/file.txt"
"train --data adir"
"train --data badutf8.txt $TRAIN_SMALL --out r3"
"train --data empty.txt $TRAIN_SMALL --out r4"
"train --data short.txt $TRAIN_SMALL --out r5"
"train --data text.txt $TRAIN_SMALL --out good"
"train --resume /no/such/run"
"train --resume nostate"
"train --resume adir"
"train --resume torn"
"train --resume badstate"
"train --resume mixed"
"train --resume swapped"
"train --resume good --n-layer 3 --lr 5"
"train --steps 99999999999"
"train --init-from notckpt.safetensors --data text.txt $TRAIN_SMALL --out r6"
"train --init-from good/state.safetensors --data text.txt $TRAIN_SMALL --out r7"
"train --init-from $M --data unknown.txt $TRAIN_SMALL --out r8"
"sample"
"sample --checkpoint /no/such/model.safetensors"
"sample --checkpoint adir"
"sample --checkpoint text.txt"
"sample --checkpoint notckpt.safetensors"
"sample --checkpoint other.safetensors"
"sample --checkpoint good/state.safetensors"
"sample --checkpoint truncated.safetensors"
"sample --checkpoint $M --prompt Zebra"
"sample --checkpoint $M --tokens -1"
"sample --checkpoint $M --tokens 1e3"
"sample --checkpoint $M --temperature -1"
"sample --checkpoint $M --temperature NaN"
"sample --checkpoint $M --top-k -3"
"sample --checkpoint $M --threads -2"
"sample --checkpoint $M --backend onednn-typo"
"eval --checkpoint $M --data unknown.txt"
"eval --checkpoint $M --data text.txt --split test"
"eval --checkpoint $M --data text.txt --block-size 0"
"eval --checkpoint $M --data text.txt --block-size -1"
"eval --checkpoint $M --data text.txt --block-size 9999"
"eval --checkpoint $M --data short.txt"
"eval --checkpoint $M --data badutf8.txt"
"eval --checkpoint $M --data /no/such/file.txt"
"eval --checkpoint truncated.safetensors --data text.txt"
"info --bogus"
"LEVIATHAN_ONEDNN_PATH=pipe info"
"LEVIATHAN_ONEDNN_PATH=pipe sample --checkpoint $M --backend onednn"
"env -u HOME -u JAVA_HOME info"
"train --threads 100000 --data text.txt"
"sample --checkpoint $M --threads 100000"
"eval --checkpoint $M --data text.txt --threads 100000"
"train --batch-size 60000 --block-size 256 --data text.txt --out r1"
"train --batch-size 16384 --block-size 1024 --n-embd 2048 --n-head 32 --n-layer 1 --data text.txt --out r1"
"train --steps 0 --data text.txt --out r1"
"train --data text.txt --n-layer 1 --n-embd 16 --n-head 2 --block-size 16 --threads 1 --backend java --sample-tokens 0 --nan-policy skip --lr 1e9 --warmup 0 --clip 0 --steps 6 --eval-interval 6 --out r2"
"eval --checkpoint diverged.safetensors --data text.txt"
"train --data text.txt --out ''"
"train --data text.txt --out text.txt"
"train --data text.txt --out text.txt/run"
"train --data text.txt --out /proc/leviathan-run $TRAIN_SMALL"
"train --data /dev/null"
"train --data pipe"
"train --data adir"
"sample --checkpoint pipe"
"sample --checkpoint loop.safetensors"
"eval --checkpoint pipe --data text.txt"
"train --data text.txt $TRAIN_SMALL --out mine"
"train --data text.txt $TRAIN_SMALL --out mine --overwrite"
"train --data text.txt $TRAIN_SMALL --out kept"
"train --data text.txt $TRAIN_SMALL --out goodcopy --overwrite"
"train --data text.txt $TRAIN_SMALL --out linked"
"train --resume fifostate"
"train --ranks 1000 --data text.txt $TRAIN_SMALL --out r1"
"train --ranks 3 --batch-size 8 --data text.txt $TRAIN_SMALL --out r1"
"train --init-from $M --batch-size 1000000 --data text.txt --out r1"
"eval --checkpoint $M --data magic.tokens"
"eval --checkpoint $M --data ids.tokens"
"LEVIATHAN_JAVA_OPTS=-Dleviathan.threads=abc sample --checkpoint $M --tokens 5"
"LEVIATHAN_JAVA_OPTS=-Dleviathan.precision=fp8 train --data text.txt $TRAIN_SMALL --out r1"
"LEVIATHAN_HEAP=4m info"
"JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 --version"
"serve --checkpoint $M --port 0 --api-key-file twolines.key"
"prepare --data big.txt --out fullfs"
"train --data text.txt $TRAIN_SMALL --out fullfs/newrun"
"train --resume fullfs/run --steps 8"
)
# A case may start with environment changes for env(1) ([env] VAR=value, -u VAR); it is word-split like a shell line.
# A successful `info` prints its findings on stdout: its row shows the oneDNN line. Each case gets 120 s (exit 124: it hung).
for c in "${cases[@]}"; do
  rm -rf r1 r2 r3 r4 r5 r6 r7 r8
  if [[ "$c" == *fullfs* && -z "$FULL" ]]; then printf '%s\t-\t%s\n' "$c" "(skipped: mounting a small tmpfs needs root)"; continue; fi
  eval "set -- $c"
  envs=()
  if [[ "$1" == env ]]; then shift; fi
  while [[ $# -gt 0 && ( "$1" == *=* || "$1" == -u ) ]]; do
    if [[ "$1" == -u ]]; then envs+=("$1" "$2"); shift 2; else envs+=("$1"); shift; fi
  done
  stdout=$(env "${envs[@]}" timeout 120 "$L" "$@" 2>stderr.txt); code=$?
  out=$(cat stderr.txt)
  if [[ "${1:-}" == info && $code == 0 ]]; then out=$(printf '%s\n' "$stdout" | grep '^oneDNN'); fi
  printf '%s\t%s\t%s\n' "$c" "$code" "$(printf '%s' "$out" | tr '\n' '\r')"
done
if [ -n "$FULL" ]; then umount fullfs; fi
