#!/bin/bash
# Sequential, one core: seed 0 of every ml-100k-natural cell first, then more seeds.
# BSL left out: its 128 softmax negatives per positive made one GMF cell run > 5 min on one core.
cd /work/wt/natbench
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 GRAPHDENOISE_DATA=/work/shared/datasets
PY=/work/venv/bin/python
METHODS=tce,rce,deca,deca-p,dcf,udt,pld,sgdl,til-ui,bod
COMMON="--budget natural --l2s 0 --threads 1 --methods $METHODS --data-dir /work/shared/datasets --out results/natural"
$PY -m graphdenoise experiment natural-noise --datasets ml-100k-natural --backbones gmf,lightgcn --seeds 0 $COMMON
$PY -m graphdenoise experiment natural-noise --datasets ml-100k-natural --backbones gmf --seeds 0,1,2 $COMMON
$PY -m graphdenoise experiment natural-noise --datasets ml-100k-natural --backbones lightgcn --seeds 0,1,2 $COMMON
