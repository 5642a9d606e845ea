"""Memorisation (notebook 16): does augmentation keep a model trained on few images from copying them?

    OMP_NUM_THREADS=1 python bench/bench_memorise.py --augment 0 --n_data 100 --steps 2000
    OMP_NUM_THREADS=1 python bench/bench_memorise.py --augment 0.12 --n_data 100 --steps 2000

Trains today's recipe on a seeded subset of `n_data` MNIST-5k digits for `steps` optimiser steps (far more epochs than
the 5,000 digits ever see), samples `n` digits (class-balanced) and finds each one's nearest training image (`nearest`):
a sample counts as memorised when its distance to the nearest is under 1/3 of its distance to the second nearest
(Gu et al. 2023). Also records FID against 2,500 real digits and the fraction read confidently. One JSON line per run
goes to `nbs/bench/training/memorise.jsonl`, and a grid (samples over their nearest training images) to
`memorise_aug{augment}.png`.
"""
import json, datetime, sys
from pathlib import Path
import torch
from fastcore.script import call_parse

OUT = Path(__file__).resolve().parent.parent/'nbs'/'bench'/'training'

@call_parse
def main(augment:float=0., # probability of each augmentation
         n_data:int=100, # training images
         steps:int=2000, # optimiser steps
         seed:int=0,
         n:int=500, # samples
         threads:int=1,
         out:str=None):
    "Train on `n_data` digits and measure how many samples copy a training image."
    sys.path.insert(0, str(Path(__file__).parent))
    from digit_eval import digit_eval
    from fastdiffusion.core import set_seed, save_grid
    from fastdiffusion.data import mnist5k_arrays
    from fastdiffusion.train import train_diffusion
    from fastdiffusion.training import nearest
    torch.set_num_threads(threads)
    dest = Path(out) if out else OUT; dest.mkdir(parents=True, exist_ok=True)
    fe, ev, x, real, floor = digit_eval(n)
    y = torch.from_numpy(mnist5k_arrays()[1]).long()
    set_seed(seed); sub = torch.randperm(len(x))[:n_data]
    t = train_diffusion((x[sub], y[sub]), max_steps=steps, seed=seed, device='cpu', verbose=False, augment=augment)
    xs = t.sample(n, seed=1, bs=500)
    idx, ratio = nearest(xs, x[sub])
    p = fe.probs(xs)
    row = dict(augment=augment, n_data=n_data, steps=steps, seed=seed, epochs=t.stats['epochs'],
               memorised=round((ratio < 1/3).float().mean().item(), 4), median_ratio=round(ratio.median().item(), 3),
               fid=round(ev.fid(xs), 3), confident=round((p.max(1).values > 0.9).float().mean().item(), 4),
               when=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'), threads=threads)
    print(json.dumps(row), flush=True)
    with open(dest/'memorise.jsonl', 'a') as f: f.write(json.dumps(row) + '\n')
    k = 10
    save_grid(torch.cat([xs[:k], x[sub][idx[:k]]]), dest/f'memorise_aug{augment:g}.png', nrow=k, scale=2)
