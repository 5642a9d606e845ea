"""Fewer steps (notebook 17): a teacher distilled into a 1-4 step student, against the teacher's own samplers at the same NFE.

    OMP_NUM_THREADS=1 python bench/bench_distill.py --teacher fd_model
    OMP_NUM_THREADS=1 python bench/bench_distill.py --teacher ours16_flow --out nbs/bench/distill/flow   # the 10-minute default model
    OMP_NUM_THREADS=1 python bench/bench_distill.py --teacher fd_model --trial chain --p_chain 0.25 --sigma_min 2.5

The teacher is a model saved by `fd_train`/`Trained.save` (here the recipe trained for 5,000 steps). It makes `n_pairs`
samples with its own recipe (10 network calls: for labelled data 8 guided steps) from seeded noise; the student (a copy of the teacher) learns to map each noise to its sample along the
straight line between them (`distill`), then samples with 1, 2 and 4 Euler steps. Every model is scored on 1,000
samples with the classifier of notebook 08 (FID against 2,500 real digits, confident fraction, largest digit share),
class-balanced for a conditional model; the teacher also at 1, 2 and 4 NFE with DPM-Solver++(2M) and the teleport
sampler. Results go to `nbs/bench/distill/results.json` (`--out DIR`: to DIR) and a grid per student budget; the 2-call
student and the teacher's recipe are also scored at the sampling seeds `--check_seeds` (`seed_check`).

With `--trial NAME` only a student is trained (the teacher is not scored again), with the given settings, and scored at
1 call, at 2 calls with each noise level of `--mids` as the middle one, and at 4 calls; its rows are appended to
`nbs/bench/distill/trials.jsonl`. `--adv W` adds a hinge GAN loss of weight W on the student's outputs at σ ≥ its middle
level, against the teacher's samples (a PatchGAN of notebook 12; adversarial distillation, Sauer et al. 2023).
`--pairs FILE` keeps the teacher's pairs in FILE (made once, then reused by every trial).
"""
import json, time, datetime, sys
from pathlib import Path
import torch
from fastcore.script import call_parse

OUT = Path(__file__).resolve().parent.parent/'nbs'/'bench'/'distill'

def adversarial_cb(weight:float, sigma_gan:float, lr:float=2e-4):
    "A callback adding `weight` x a hinge GAN generator loss on the student's denoised outputs at σ >= `sigma_gan`; it trains its discriminator after each step."
    from fastdiffusion.learner import Callback
    from fastdiffusion.vae import PatchDiscriminator, hinge_d_loss, hinge_g_loss
    class AdversarialCB(Callback):
        order = 5
        def __init__(self):
            self.disc = PatchDiscriminator(); self.opt = torch.optim.Adam(self.disc.parameters(), lr, betas=(0.5, 0.9)); self.fake = None
        def after_loss(self, learn):
            keep = learn.xb[1] >= sigma_gan - 1e-6
            self.fake = None
            if not keep.any(): return
            fake = learn.preds[keep]
            self.disc.requires_grad_(False)
            learn.loss = learn.loss + weight * hinge_g_loss(self.disc(fake))
            self.disc.requires_grad_(True)
            self.fake, self.real = fake.detach(), learn.yb[0]
        def after_step(self, learn):
            if self.fake is None: return
            d = hinge_d_loss(self.disc(self.real), self.disc(self.fake))
            self.opt.zero_grad(); d.backward(); self.opt.step()
    return AdversarialCB()

@call_parse
def main(teacher:str=None, # folder of the teacher model
         n_pairs:int=20000, max_steps:int=6000, n:int=1000, threads:int=1, out:str=None,
         p_chain:float=0.25, sigma_min:float=5., p_max:float=0.5, p_mid:float=0.5, opt:str='muon', lr:float=2e-3, # `distill`'s settings (its defaults)
         adv:float=0., # weight of an adversarial loss (0: none)
         trial:str=None, # train only a student with these settings and append its rows to trials.jsonl
         mids:str='2.5,5,10', # with `trial`: middle noise levels tried at 2 calls
         pairs:str=None, # a file to keep the teacher's pairs in
         check_seeds:str='2,3', # other sampling seeds at which the 2-call student and the teacher's recipe are scored again (the ratio moves with the seed)
         save:str=None): # also save the student in this folder
    "Distil `teacher` and score it and its student at 1, 2, 4 (and 10) NFE."
    sys.path.insert(0, str(Path(__file__).parent))
    from digit_eval import digit_eval
    from bench_training import score
    from fastdiffusion.core import save_grid, set_seed
    from fastdiffusion.train import Trained
    from fastdiffusion.distill import distill, teacher_pairs
    torch.set_num_threads(threads)
    dest = Path(out) if out else OUT; dest.mkdir(parents=True, exist_ok=True)
    fe, ev, x, real, floor = digit_eval(n)
    t = Trained.load(teacher, device='cpu')
    if t.n_classes: t.config['sampling']['labels'] = 'balanced'   # score a conditional teacher (and its student) on every class in turn
    rows = [dict(model='real digits (floor)', nfe=None, **{k: floor[k] for k in ('fid', 'confident')})]
    def add(name, nfe, m, **kw):
        r, xs = score(m, fe, ev, n, **kw); rows.append(dict(model=name, nfe=nfe, **r)); print(rows[-1], flush=True)
        return xs
    if not trial:
        add('teacher, its recipe' + (' (8 steps, guided)' if t.config['sampling'].get('guidance') else ''), t.nfe(), t)
        add('teacher, DPM-Solver++(2M), unguided', 10, t, steps=10, guidance=1)
        for k in (1, 2, 4):
            add('teacher, DPM-Solver++(2M)', k, t, steps=k, guidance=1)   # at 1-4 calls a guided step would cost another call
            add('teacher, teleport', k, t, steps=k, sampler='teleport', guidance=1)
    t0 = time.perf_counter()
    if pairs and Path(pairs).exists(): P = torch.load(pairs); P = (P['x'][:n_pairs], P['eps'][:n_pairs], P['labels'][:n_pairs] if P['labels'] is not None else None)
    else:
        P = teacher_pairs(t, n_pairs, seed=1000, verbose=False)
        if pairs: torch.save(dict(x=P[0], eps=P[1], labels=P[2]), pairs)
    t_pairs = time.perf_counter() - t0
    set_seed(0)
    s = distill(t, pairs=P, max_steps=max_steps, verbose=False, p_chain=p_chain, sigma_min=sigma_min, p_max=p_max, p_mid=p_mid, opt=opt, lr=lr,
                cbs=[adversarial_cb(adv, sigma_min)] if adv else [])
    if save: s.save(save, n_samples=0)
    settings = dict(n_pairs=len(P[0]), student_steps=max_steps, p_chain=p_chain, sigma_min=sigma_min, adv=adv, p_max=p_max, p_mid=p_mid, opt=opt, lr=lr)
    if trial:
        trows = []
        for k, mid in [(1, None), *[(2, float(v)) for v in mids.split(',')], (4, sigma_min)]:
            if mid: s.config['sampling']['sigma_min'] = mid
            r, xs = score(s, fe, ev, n, steps=k)
            trows.append(dict(trial=trial, nfe=k, sigma_mid=mid, **r, **settings, student_s=s.stats['train_time'])); print(trows[-1], flush=True)
            if k == 2 and mid == sigma_min: save_grid(xs[:64], dest/f'trial_{trial}_nfe2.png', nrow=8)
        with open(dest/'trials.jsonl', 'a') as f:
            for r in trows: f.write(json.dumps(r) + '\n')
        return
    for k in (1, 2, 4):
        xs = add('student (distilled), Euler', k, s, steps=k)
        save_grid(xs[:64], dest/f'student_nfe{k}.png', nrow=8)
    check = dict(note='2 NFE student and the teacher recipe (10 NFE) at other sampling seeds, same 1,000 class-balanced samples',
                 student_nfe2={'1': rows[-2]['fid']}, teacher_recipe={'1': rows[1]['fid']})
    for sd in (int(v) for v in check_seeds.split(',') if v):
        check['student_nfe2'][str(sd)] = score(s, fe, ev, n, seed=sd, steps=2)[0]['fid']
        check['teacher_recipe'][str(sd)] = score(t, fe, ev, n, seed=sd)[0]['fid']
        print('seed', sd, check['student_nfe2'][str(sd)], check['teacher_recipe'][str(sd)], flush=True)
    res = dict(rows=rows, pairs_s=round(t_pairs, 1), student_s=s.stats['train_time'], **settings, seed_check=check,
               teacher=t.config['training'], when=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'))
    (dest/'results.json').write_text(json.dumps(res, indent=1))
