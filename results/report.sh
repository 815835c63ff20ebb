#!/bin/bash
# usage: report.sh TAG BACKBONES SEEDS  -- rebuilds the report from finished cells and copies it to docs/results
cd /work/wt/natbench
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 GRAPHDENOISE_DATA=/work/shared/datasets
/work/venv/bin/python -m graphdenoise experiment natural-noise --datasets ml-100k-natural --backbones $2 --seeds $3 \
  --budget natural --l2s 0 --threads 1 --methods tce,rce,deca,deca-p,dcf,udt,pld,sgdl,til-ui,bod \
  --data-dir /work/shared/datasets --out results/natural --quiet || exit 1
mkdir -p docs/results/figures
cp results/natural/natural-noise.csv docs/results/natural-noise_$1_cells.csv
cp results/natural/natural-noise-summary.csv docs/results/natural-noise_$1.csv
cp results/natural/figures/natural-noise.png docs/results/figures/natural-noise_$1.png
cp results/natural/natural-noise.md results/natural-noise_$1.md
