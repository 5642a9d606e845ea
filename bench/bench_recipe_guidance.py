"""The recipe's guidance (notebook 16): a labelled model sampled at the same 10 network calls with and without guidance.

    OMP_NUM_THREADS=2 python bench/bench_recipe_guidance.py --model fd_model

`model` is a class-conditional model saved by `fd_train`/`Trained.save` (here the recipe trained for 5,000 steps).
Classifier-free guidance on EDM2's interval (σ in (0.28, 5.42], Kynkäänniemi et al. 2024) calls the network twice
at the noise levels inside it: with DPM-Solver++(2M) that is 2 of 8 steps (10 calls) and 3 of 10 (13 calls). Each
setting samples 1,000 class-balanced digits from two noise seeds and is scored with notebook 08's classifier: FID
against 2,500 real digits, the fraction read with a top probability above 0.9, the fraction read as the class asked
for, and the largest share of one digit. One JSON line per (setting, seed) goes to `nbs/bench/training/guidance.jsonl`.
"""
import json, datetime, sys
from pathlib import Path
import torch
from fastcore.script import call_parse

OUT = Path(__file__).resolve().parent.parent/'nbs'/'bench'/'training'
SETTINGS = [(10, 1.), (8, 1.), (8, 1.2), (8, 1.3), (8, 1.5), (10, 1.3)]   # (steps, w)

@call_parse
def main(model:str=None, # folder of a class-conditional model
         n:int=1000, seeds:str='1,2', threads:int=2, out:str=None):
    "Score `model` with and without the recipe's guidance at equal network calls."
    sys.path.insert(0, str(Path(__file__).parent))
    from digit_eval import digit_eval
    from fastdiffusion.train import Trained
    torch.set_num_threads(threads)
    dest = Path(out) if out else OUT; dest.mkdir(parents=True, exist_ok=True)
    fe, ev, x, real, floor = digit_eval(n)
    t = Trained.load(model, device='cpu')
    if not t.n_classes: raise SystemExit(f"'{model}' was trained without labels: nothing to guide")
    t.config['sampling']['guidance'] = dict(w=1., interval=[0.28, 5.42])   # the interval; each setting gives its weight
    labels = torch.arange(n) % t.n_classes
    with open(dest/'guidance.jsonl', 'a') as f:
        for steps, w in SETTINGS:
            for seed in map(int, seeds.split(',')):
                xs = t.sample(n, steps=steps, seed=seed, bs=500, labels=labels, guidance=w)
                p = fe.probs(xs); share = torch.bincount(p.argmax(1), minlength=p.shape[1]).float() / n
                row = dict(steps=steps, w=w, nfe=t.nfe(steps, guidance=w), seed=seed, fid=round(ev.fid(xs), 3),
                           confident=round((p.max(1).values > 0.9).float().mean().item(), 4),
                           on_class=round((p.argmax(1) == labels).float().mean().item(), 4), top_digit=round(share.max().item(), 4),
                           model=str(Path(model).name), when=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'))
                print(json.dumps(row), flush=True); f.write(json.dumps(row) + '\n')
