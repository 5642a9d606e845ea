"""Fewer steps (notebook 17): a teacher distilled into a 1-4 step student, against the teacher's own samplers at the same NFE.

    OMP_NUM_THREADS=1 python bench/bench_distill.py --teacher fd_model

The teacher is a model saved by `fd_train`/`Trained.save` (here the recipe trained for 5,000 steps). It makes `n_pairs`
samples with its own recipe (10 network calls: for labelled data 8 guided steps) from seeded noise; the student (a copy of the teacher) learns to map each noise to its sample along the
straight line between them (`distill`), then samples with 1, 2 and 4 Euler steps. Every model is scored on 1,000
samples with the classifier of notebook 08 (FID against 2,500 real digits, confident fraction, largest digit share),
class-balanced for a conditional model; the teacher also at 1, 2 and 4 NFE with DPM-Solver++(2M) and the teleport
sampler. Results go to `nbs/bench/distill/results.json` and a grid per student budget.
"""
import json, time, datetime, sys
from pathlib import Path
import torch
from fastcore.script import call_parse

OUT = Path(__file__).resolve().parent.parent/'nbs'/'bench'/'distill'

@call_parse
def main(teacher:str=None, # folder of the teacher model
         n_pairs:int=10000, max_steps:int=2000, n:int=1000, threads:int=1, out:str=None):
    "Distil `teacher` and score it and its student at 1, 2, 4 (and 10) NFE."
    sys.path.insert(0, str(Path(__file__).parent))
    from digit_eval import digit_eval
    from bench_training import score
    from fastdiffusion.core import save_grid
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
    add('teacher, its recipe' + (' (8 steps, guided)' if t.config['sampling'].get('guidance') else ''), t.nfe(), t)
    add('teacher, DPM-Solver++(2M), unguided', 10, t, steps=10, guidance=1)
    for k in (1, 2, 4):
        add('teacher, DPM-Solver++(2M)', k, t, steps=k, guidance=1)   # at 1-4 calls a guided step would cost another call
        add('teacher, teleport', k, t, steps=k, sampler='teleport', guidance=1)
    t0 = time.perf_counter()
    pairs = teacher_pairs(t, n_pairs, seed=1000, verbose=False)
    t_pairs = time.perf_counter() - t0
    s = distill(t, pairs=pairs, max_steps=max_steps, verbose=False)
    for k in (1, 2, 4):
        xs = add('student (distilled), Euler', k, s, steps=k)
        save_grid(xs[:64], dest/f'student_nfe{k}.png', nrow=8)
    res = dict(rows=rows, n_pairs=n_pairs, pairs_s=round(t_pairs, 1), student_steps=max_steps, student_s=s.stats['train_time'],
               teacher=t.config['training'], when=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'))
    (dest/'results.json').write_text(json.dumps(res, indent=1))
