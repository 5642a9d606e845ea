"""Better training (notebook 16): each change to the recipe alone, and together, at equal cost on MNIST-5k.

    OMP_NUM_THREADS=1 python bench/bench_training.py --variant base --steps 2500 --seed 0

A variant is a set of `train_diffusion` settings over the recipe's (`VARIANTS`). Each trains for a fixed number of
optimiser steps (a budget converted to steps with the variant's measured speed, `--steps`), so a busy machine does not
tilt the comparison; the training images per second are recorded beside it. Every run keeps power-function EMAs with
snapshots (Karras et al. 2024), so one run is scored at several EMA lengths chosen after training. Each model samples
1,000 digits at 10 network calls (DPM-Solver++(2M), 10 steps, unguided; a model of labelled data also as its recipe
samples it: 8 steps guided on EDM2's interval, again 10 calls); scores use the classifier of notebook 08: FID
against 2,500 real digits (`digit_eval`), the fraction read with a top probability above 0.9 (`confident`), and the
largest share of any one digit among the samples (`top_digit`). One JSON line per (run, EMA) goes to
`nbs/bench/training/runs.jsonl`.
"""
import json, datetime, sys
from pathlib import Path
import torch
from fastcore.script import call_parse

OUT = Path(__file__).resolve().parent.parent/'nbs'/'bench'/'training'

OLD = dict(opt='adamw', conditional=False, ema_length=None, loss_weight='fixed', objective='edm')   # the recipe before notebook 16: each variant changes it
VARIANTS = dict(
    base=dict(),
    labels=dict(conditional=True),
    power_ema=dict(ema_length=0.1),
    augment=dict(augment=0.12),
    lion=dict(opt='lion', lr=2e-4, wd=0.1), lion_lr4e4=dict(opt='lion', lr=4e-4, wd=0.1), lion_lr1e4=dict(opt='lion', lr=1e-4, wd=0.1),
    muon=dict(opt='muon'), muon_lr4e3=dict(opt='muon', lr=4e-3), muon_lr1e3=dict(opt='muon', lr=1e-3),
    adamw_lr4e3=dict(lr=4e-3), adamw_lr1e3=dict(lr=1e-3),
    flow=dict(objective='flow'), flow_sd3=dict(objective='flow', P_std=1.0),
    isqrt=dict(sched='isqrt'), const=dict(sched='const'), lion_lr6e4=dict(opt='lion', lr=6e-4, wd=0.1),
    muon_labels=dict(opt='muon', conditional=True), muon_flow=dict(opt='muon', objective='flow'),
)
EDM = dict(objective='edm')   # the rows below were measured before flow matching became the default: they keep EDM's preconditioning
FIXED = dict(EDM, loss_weight='fixed')   # the defaults before the learned loss weight won (Muon, labels, power EMA 0.05): `new` and `new_isqrt` change those
NEW = dict(new=FIXED, new_learned=dict(EDM, loss_weight='learned'), new_isqrt=dict(FIXED, sched='isqrt'),   # one change to today's defaults
           new_mp=dict(EDM, arch='mpunet', lr=2e-2), new_mp_lr1e2=dict(EDM, arch='mpunet', lr=1e-2), new_mp_lr4e2=dict(EDM, arch='mpunet', lr=4e-2),   # EDM2's magnitude-preserving UNet (learned weight: the default by then); 10x the lr: its weight entries are about 20x larger
           new_mp_adam=dict(EDM, arch='mpunet', opt='adamw', lr=1e-2, sched='isqrt'),   # ... with EDM2's own optimiser settings (Adam 1e-2, inverse-sqrt decay)
           new_flow=dict(objective='flow'))   # flow matching on today's defaults (it beat EDM's preconditioning in the old recipe on two seeds)

def score(model_or_trained, fe, ev, n:int, labels=None, seed:int=1, **kw) -> dict:
    "FID, confident fraction and the largest digit share of `n` samples at the recipe's 10 NFE."
    x = model_or_trained.sample(n, seed=seed, bs=500, labels=labels, **kw)
    p = fe.probs(x)
    share = torch.bincount(p.argmax(1), minlength=p.shape[1]).float() / len(x)
    return dict(fid=round(ev.fid(x), 3), confident=round((p.max(1).values > 0.9).float().mean().item(), 4),
                top_digit=round(share.max().item(), 4)), x

@call_parse
def main(variant:str='base', # a key of VARIANTS (one change to the old recipe) or of NEW (one change to today's defaults)
         steps:int=2500, # optimiser steps
         seed:int=0,
         n:int=1000, # samples scored
         emas:str='0.05,0.1,0.15,0.2', # post-hoc EMA lengths scored (sigma_rel), besides the recipe's own EMA
         threads:int=1,
         out:str=None,
         save:str=None): # also save the trained model (the recipe's EMA) in this folder
    "Train one variant for `steps` and score it at several EMA lengths."
    sys.path.insert(0, str(Path(__file__).parent))
    from digit_eval import digit_eval
    from fastdiffusion.core import set_seed, save_grid
    from fastdiffusion.data import mnist5k_arrays
    from fastdiffusion.train import train_diffusion, Trained
    from fastdiffusion.training import PowerEMACB
    torch.set_num_threads(threads)
    dest = Path(out) if out else OUT; dest.mkdir(parents=True, exist_ok=True)
    fe, ev, x, real, floor = digit_eval(n)
    kw = NEW[variant] if variant in NEW else dict(OLD, **VARIANTS[variant])
    pema = PowerEMACB((0.05, 0.1), snapshots=16)
    set_seed(seed)
    y = torch.from_numpy(mnist5k_arrays()[1]).long()
    t = train_diffusion((x, y), max_steps=steps, seed=seed, device='cpu', verbose=False, cbs=[pema], **kw)
    if save: t.save(save, n_samples=0)
    labels = torch.arange(n) % 10 if t.n_classes else None
    base = dict(variant=variant, steps=steps, seed=seed, img_per_s=t.stats['img_per_s'], train_time=t.stats['train_time'],
                when=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'), threads=threads)
    models = dict(recipe=t.model, **{f'power {s}': pema.posthoc(float(s)) for s in emas.split(',')})
    with open(dest/'runs.jsonl', 'a') as f:
        for name, m in models.items():
            r, xs = score(Trained(m.eval(), t.config, t.gauss), fe, ev, n, labels, steps=10, guidance=1)   # the network alone, 10 NFE
            row = dict(base, ema=name, **r); print(json.dumps(row), flush=True)
            f.write(json.dumps(row) + '\n')
            if name == 'recipe': save_grid(xs[:64], dest/f'{variant}_s{seed}_{steps}.png', nrow=8)
        if t.config['sampling'].get('guidance'):   # and as the recipe samples it: guided, at the same 10 network calls
            r, xs = score(t, fe, ev, n, labels)
            row = dict(base, ema='recipe, guided', nfe=t.nfe(), **r); print(json.dumps(row), flush=True)
            f.write(json.dumps(row) + '\n')
            save_grid(xs[:64], dest/f'{variant}_s{seed}_{steps}_guided.png', nrow=8)
