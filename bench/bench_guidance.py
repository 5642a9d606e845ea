"""Guidance at equal cost: class-conditional sampling of the course's recipe on MNIST-5k, with classifier-free guidance,
CFG on an interval of noise levels, and autoguidance, each over a sweep of its weight.

    python bench/bench_guidance.py train --out runs/guidance     # the conditional model (10 min) and a weaker guide (2 min)
    python bench/bench_guidance.py eval --out runs/guidance --uncond runs/ours600    # score every setting
    python bench/bench_guidance.py intervals --out runs/guidance                    # CFG on other sigma intervals
    python bench/bench_guidance.py classifier --out runs/guidance --uncond runs/ours600   # classifier guidance (2-min classifier)
    python bench/bench_guidance.py table

Every setting samples 1,000 class-balanced digits (100 of each, the same noise for every setting) at 10 denoiser calls
(DPM-Solver++(2M), 10 steps; a guided denoiser calls its networks twice where it guides) and scores them with the
classifier of `08_metrics`: FID against 2,500 real digits (the benchmark's half B), the fraction of samples it assigns
to the requested digit, and the fraction it classifies with a top probability above 0.9. `--uncond` names an
unconditional model of the same budget (e.g. one saved by `bench_diffusers.py ours --save`), scored the same way as
the reference row. Results go to `nbs/bench/guidance/` (`results.json`, `results.md`, `accuracy_vs_fid.png`, grids).
"""
import json, time, datetime
from pathlib import Path
import torch
from fastcore.script import call_parse, Param

HERE = Path(__file__).resolve().parent
OUT = HERE.parent/'nbs'/'bench'/'guidance'
WEIGHTS = dict(cfg=[1.5, 2., 3., 4.], interval=[2., 3., 4., 6.], auto=[1.5, 2., 3., 4.])
INTERVAL = (0.28, 5.42)   # Kynkäänniemi et al. 2024's interval for EDM2

def class_scores(fe, s:torch.Tensor, want:torch.Tensor|None) -> dict:
    "The classifier's view of samples `s`: the share it reads as the requested digit `want`, and the share it reads with p > 0.9."
    with torch.no_grad(): p = torch.cat([fe.model(s[i:i+500]).softmax(1) for i in range(0, len(s), 500)])
    return dict(accuracy=None if want is None else round((p.argmax(1) == want).float().mean().item(), 4),
                confident=round((p.max(1).values > 0.9).float().mean().item(), 4))

def train(out:Path, budget:float, guide_budget:float):
    from fastdiffusion.train import train_diffusion
    res = train_diffusion('mnist5k', time_budget=budget, conditional=True, device='cpu', verbose=False)
    res.save(out/'cond', n_samples=0); print('conditional', res.stats, flush=True)
    g = train_diffusion('mnist5k', time_budget=guide_budget, conditional=True, nfs=(16, 32), device='cpu', verbose=False)
    g.save(out/'guide', n_samples=0); print('guide', g.stats, flush=True)

def evaluate(out:Path, uncond:str|None, n:int=1000):
    from fastdiffusion.core import save_grid
    from fastdiffusion.train import Trained
    from fastdiffusion.guidance import Guided
    fe, ev, cond = setup(out)
    guide = Trained.load(out/'guide', device='cpu').model
    want = torch.arange(n) % 10
    res = {}
    def score(name, method, w, t, model=None, labels=want):
        t0 = time.time()
        s = t.sample(n, steps=10, sampler='dpmpp_2m', seed=1, bs=500, model=model, labels=labels)
        r = ev.score(s)
        row = dict(method=method, w=w, fid=round(r['fid'], 3), kid=round(r['kid'], 4), **class_scores(fe, s, None if labels is None else want),
                   sample_s=round(time.time() - t0, 1))
        res[name] = row; print(name, row, flush=True)
        save_grid(s[torch.argsort(want, stable=True)].reshape(10, n // 10, *s.shape[1:])[:, :10].flatten(0, 1) if labels is not None else s[:100], OUT/f'{name}.png', nrow=10, scale=2)
    if uncond: score('unconditional', 'unconditional model', None, Trained.load(uncond, device='cpu'), labels=None)
    score('cond_null', 'conditional model, null label', 0., cond, labels=None)
    score('cond_w1', 'conditional model, no guidance', 1., cond)
    for method, ws in WEIGHTS.items():
        for w in ws:
            g = Guided(cond.model, w, guide=guide if method == 'auto' else None, interval=INTERVAL if method == 'interval' else None)
            score(f'{method}_w{w:g}', method, w, cond, model=g)
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), cond=cond.stats, guide=Trained.load(out/'guide').stats,
                interval=INTERVAL, n=n)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT/'results.json').write_text(json.dumps(dict(meta=meta, rows=res), indent=1))

INTERVALS = [(0.1, 1.), (0.28, 2.), (0.5, 5.42), (1., 10.), (0.28, 80.), (2., 80.)]

def setup(out:Path):
    "The classifier, the evaluator against half B of the real digits, and the conditional model."
    from fastdiffusion.core import set_seed, from_uint8
    from fastdiffusion.data import mnist5k_arrays
    from fastdiffusion.metrics import get_feature_extractor, ImageEvaluator
    from fastdiffusion.train import Trained
    fe = get_feature_extractor(device='cpu', verbose=False)
    x = from_uint8(torch.from_numpy(mnist5k_arrays()[0])[:, None])
    set_seed(0); perm = torch.randperm(len(x))
    return fe, ImageEvaluator(fe, real=x[perm[2500:]], device='cpu'), Trained.load(out/'cond', device='cpu')

def intervals(out:Path, n:int=1000):
    "CFG at w = 2 and 3 on other intervals of noise levels than EDM2's: does the interval win with its best interval?"
    from fastdiffusion.guidance import Guided
    fe, ev, cond = setup(out)
    want, rows = torch.arange(n) % 10, []
    for iv in INTERVALS:
        for w in (2., 3.):
            s = cond.sample(n, steps=10, sampler='dpmpp_2m', seed=1, bs=500, labels=want, model=Guided(cond.model, w, interval=iv))
            rows.append(dict(interval=iv, w=w, fid=round(ev.fid(s), 3), **class_scores(fe, s, want)))
            print(rows[-1], flush=True)
    lines = ['| interval (sigma_lo, sigma_hi] | w | FID | requested digit | confident |', '|---|---|---|---|---|']
    lines += [f"| {tuple(r['interval'])} | {r['w']:g} | {r['fid']:.3g} | {r['accuracy']:.1%} | {r['confident']:.1%} |" for r in rows]
    (OUT/'intervals.json').write_text(json.dumps(rows, indent=1)); (OUT/'intervals.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

CLF_SCALES = [1., 2., 4., 8., 16.]

def classifier(out:Path, uncond:str, budget:float, n:int=1000):
    "Train a noise-aware classifier for `budget` seconds and guide the unconditional model with it (Dhariwal & Nichol 2021)."
    from fastdiffusion.core import from_uint8, save_grid
    from fastdiffusion.data import mnist5k_arrays
    from fastdiffusion.checkpoint import save_checkpoint
    from fastdiffusion.train import Trained
    from fastdiffusion.guidance import ClassifierGuided, train_noisy_classifier
    fe, ev, _ = setup(out)
    X, y = mnist5k_arrays()
    clf = train_noisy_classifier(from_uint8(torch.from_numpy(X)[:, None]), torch.from_numpy(y).long(), time_budget=budget, device='cpu')
    save_checkpoint(clf, out/'classifier', steps=clf.steps, time_budget=budget)
    print('classifier', clf.steps, 'steps', flush=True)
    t, want = Trained.load(uncond, device='cpu'), torch.arange(n) % 10
    r = json.loads((OUT/'results.json').read_text())
    for g in CLF_SCALES:
        t0 = time.time()
        s = t.sample(n, steps=10, sampler='dpmpp_2m', seed=1, bs=500, labels=None, model=ClassifierGuided(t.model, clf, g),
                     extra_args={'labels': want})
        row = dict(method='classifier', w=g, fid=round(ev.fid(s), 3), kid=None, **class_scores(fe, s, want), sample_s=round(time.time() - t0, 1))
        r['rows'][f'classifier_s{g:g}'] = row; print(row, flush=True)
        save_grid(s[torch.argsort(want, stable=True)].reshape(10, n // 10, *s.shape[1:])[:, :10].flatten(0, 1), OUT/f'classifier_s{g:g}.png', nrow=10, scale=2)
    r['meta']['classifier'] = dict(steps=clf.steps, time_budget=budget, n_params=sum(p.numel() for p in clf.parameters()))
    (OUT/'results.json').write_text(json.dumps(r, indent=1))

def markdown_table(r:dict) -> str:
    lines = ['| method | w | FID | requested digit | confident (p > 0.9) |', '|---|---|---|---|---|']
    for k, v in r['rows'].items():
        acc = '–' if v['accuracy'] is None else f"{v['accuracy']:.1%}"
        lines.append(f"| {v['method']} | {'–' if v['w'] is None else f'{v[chr(119)]:g}'} | {v['fid']:.3g} | {acc} | {v['confident']:.1%} |")
    m = r['meta']
    lines.append(f"\nConditional model: {m['cond']['epochs']} epochs in {m['cond']['train_time']} s; autoguidance's guide: "
                 f"{m['guide']['n_params']:,} parameters (the model: {m['cond']['n_params']:,}), {m['guide']['epochs']} epochs in "
                 f"{m['guide']['train_time']} s; interval {tuple(m['interval'])}; {m['n']} samples per row; measured {m['date']}."
                 + (f" Classifier guidance (w: its scale) guides the unconditional model with a noise-aware classifier of "
                    f"{m['classifier']['n_params']:,} parameters trained for {m['classifier']['time_budget']:g} s." if 'classifier' in m else ''))
    return '\n'.join(lines)

def plot(r:dict, fname:Path):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    rows = r['rows']
    base = rows['cond_w1']
    for method, mk in (('cfg', 'o-'), ('interval', 's-'), ('auto', '^-'), ('classifier', 'd--')):
        pts = ([base] if method != 'classifier' else []) + [v for v in rows.values() if v['method'] == method]
        if not pts: continue
        ax.plot([v['fid'] for v in pts], [100 * v['accuracy'] for v in pts], mk, label=method)
        for v in pts[1:]: ax.annotate(f"{v['w']:g}", (v['fid'], 100 * v['accuracy']), fontsize=7, xytext=(3, 3), textcoords='offset points')
    if 'unconditional' in rows: ax.axvline(rows['unconditional']['fid'], color='gray', ls=':', label='unconditional model (FID)')
    ax.set_xscale('log'); ax.set_xlabel('FID (lower is better; log scale)'); ax.set_ylabel('samples of the requested digit (%)'); ax.grid(alpha=.3); ax.legend(fontsize=8)
    ax.set_title('guidance at 10 denoiser calls: accuracy against FID', fontsize=9)
    fig.tight_layout(); fig.savefig(fname, dpi=110)

@call_parse
def main(what:Param("what to run", str, choices=['train', 'eval', 'intervals', 'classifier', 'table']),
         out:str='runs/guidance', # folder for the trained models
         uncond:str=None, # an unconditional model of the same budget (the reference row)
         budget:float=600., # seconds of training for the conditional model
         guide_budget:float=120., # seconds of training for autoguidance's smaller guide (and for the classifier)
         n:int=1000, # samples per setting (a multiple of 10)
         threads:int=2):
    "Guidance at equal cost on MNIST-5k."
    torch.set_num_threads(threads)
    if what == 'train': train(Path(out), budget, guide_budget)
    elif what == 'eval': evaluate(Path(out), uncond, n)
    elif what == 'intervals': intervals(Path(out), n); return
    elif what == 'classifier': classifier(Path(out), uncond, guide_budget, n)
    r = json.loads((OUT/'results.json').read_text()) if (OUT/'results.json').exists() else None
    if what != 'train' and r:
        (OUT/'results.md').write_text(markdown_table(r) + '\n'); plot(r, OUT/'accuracy_vs_fid.png'); print(markdown_table(r))
