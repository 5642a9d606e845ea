"""Quality at equal cost: our recipe (`train_diffusion`) against diffusers' unconditional-training recipe on MNIST-5k.

Each run trains for the same CPU time budget, then samples `--n_eval` images and scores them with
`fastdiffusion.metrics` (FID/KID of a classifier trained on MNIST-5k) against half of the real digits, beside the
floor (the other half of the real digits against the same half). Results are merged into `results.json` in
`nbs/bench/` (the README shows them from there): `results.json`, the table rendered as `results.md`, and the sample
grids as PNGs.

    python bench/bench_diffusers.py floor
    python bench/bench_diffusers.py ours --name ours16 --recipe "ours (notebook 16 defaults)"
    python bench/bench_diffusers.py ours     # notebook 09's recipe, as first measured (its rows are kept under 'ours')
    python bench/bench_diffusers.py diffusers --lr 1e-4      # the example's documented learning rate
    python bench/bench_diffusers.py diffusers --lr 5e-4
    python bench/bench_diffusers.py diffusers --lr 1e-3
    python bench/bench_diffusers.py diffusers --lr 2e-3
    python bench/bench_diffusers.py diffusers --lr 4e-3 --save d4e3 && python bench/bench_diffusers.py check --load d4e3
    python bench/bench_diffusers.py diffusers --lr 8e-3
    python bench/bench_diffusers.py table
    python bench/bench_diffusers.py ours --budget 300 --threads 1 --kw '{"P_mean": 0.0}' --results trials/results.json   # a trial

`diffusers` is a benchmark-only dependency (`pip install diffusers`), imported only by the `diffusers` command.
The diffusers recipe follows its `examples/unconditional_image_generation/train_unconditional.py`: `UNet2DModel`,
`DDPMScheduler` (1000 linear-β steps, ε-prediction), AdamW (β=(0.95, 0.999), weight decay 1e-6), gradient clipping
at 1, a cosine LR schedule with 500 warm-up steps, EMA (warm-up, inverse γ 1, power 3/4, max 0.9999), batch size 16,
sampled with the EMA weights by DDIM (20 steps) and DPM-Solver++ (10 steps, as shipped and with Imagen's dynamic
thresholding, a documented option of its scheduler for pixel-space models). Its UNet is the small MNIST
configuration (28 px, channels 32-64-64, attention in the two lower levels, one ResNet layer per block) with 8
GroupNorm groups (`--groups`), so every group holds at least 4 channels: with diffusers' default of 32 groups the
32-channel level would normalise each channel alone (InstanceNorm), which the example, whose smallest level has 128
channels in 32 groups, never does. Its cosine schedule runs over the time budget (as ours does), so it too ends
with a decayed learning rate.
"""
import json, math, platform, time, datetime
from pathlib import Path
from types import SimpleNamespace
import torch
from fastcore.script import call_parse, Param

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent/'nbs'/'bench'/'results.json'

def real_halves():
    "MNIST-5k in [-1,1], split into the two halves that `08_metrics` uses for its floor."
    from fastdiffusion.core import set_seed, from_uint8
    from fastdiffusion.data import mnist5k_arrays
    x = from_uint8(torch.from_numpy(mnist5k_arrays()[0])[:, None])
    set_seed(0); perm = torch.randperm(len(x))
    return x[perm[:2500]], x[perm[2500:]]

def evaluator():
    from fastdiffusion.metrics import get_feature_extractor, ImageEvaluator
    return ImageEvaluator(get_feature_extractor(device='cpu', verbose=False), real=real_halves()[1], device='cpu')

def score(ev, x) -> dict:
    "FID/KID against the real half, the fraction the classifier reads with a top probability above 0.9 and the largest share of one digit."
    r, p = ev.score(x), ev.extractor.probs(x)
    share = torch.bincount(p.argmax(1), minlength=p.shape[1]).float() / len(x)
    return dict(fid=round(r['fid'], 3), kid=round(r['kid'], 5), kid_std=round(r['kid_std'], 5),
                confident=round((p.max(1).values > 0.9).float().mean().item(), 4), top_digit=round(share.max().item(), 4))

def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try: cpu = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): pass
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"

def save_row(key:str, row:dict):
    res = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    row.update(date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), hardware=hardware())
    res[key] = row
    RESULTS.write_text(json.dumps(res, indent=1))
    if 'floor' in res: RESULTS.with_suffix('.md').write_text(markdown_table(res) + '\n')
    print(key, json.dumps(row))

def grid(x, name:str):
    from fastdiffusion.core import save_grid
    save_grid(x[:64], RESULTS.parent/f'{name}.png', nrow=8, scale=2)

# ---------------------------------------------------------------- the floor
def run_floor(a, n_draws:int=20):
    "FID/KID of `n_eval` real digits from half A against half B, averaged over `n_draws` random draws (one draw is noisy)."
    ev = evaluator()
    half_a, _ = real_halves()
    g = torch.Generator().manual_seed(0)
    draws = [score(ev, half_a[torch.randperm(len(half_a), generator=g)[:a.n_eval]]) for _ in range(n_draws)]
    fids = torch.tensor([d['fid'] for d in draws], dtype=torch.float64)
    save_row('floor', dict(what=f'{a.n_eval} real digits (half A) vs 2500 (half B), mean of {n_draws} draws',
                       fid=round(fids.mean().item(), 3), fid_std=round(fids.std().item(), 3),
                       fid_min=round(fids.min().item(), 3), fid_max=round(fids.max().item(), 3),
                       kid=round(sum(d['kid'] for d in draws) / n_draws, 5), kid_std=round(sum(d['kid_std'] for d in draws) / n_draws, 5),
                       confident=round(sum(d['confident'] for d in draws) / n_draws, 4)))
    grid(half_a, 'real')

# ---------------------------------------------------------------- ours
def run_ours(a):
    from fastdiffusion.train import train_diffusion
    kw = json.loads(a.kw) if a.kw else {}
    if a.lr: kw['lr'] = a.lr
    res = train_diffusion('mnist5k', time_budget=a.budget, device='cpu', verbose=False, **kw)
    print(res.stats, flush=True)
    if a.save: res.save(a.save, n_samples=0)
    ev = evaluator()
    name = a.name or 'ours'
    s = res.config['sampling']
    guided = bool(s.get('guidance'))   # a labelled model: the recipe samples 8 guided steps (10 calls); also unguided at 10
    for sampler in (a.samplers.split(',') if a.samplers else [s['sampler']]):
        for steps, w in ([(s['steps'], None), (10, 1.), (20, None)] if guided else [(10, None), (20, None)]):
            t0 = time.time()
            x = res.sample(a.n_eval, steps=steps, sampler=sampler, seed=1, bs=500, guidance=w)
            ts = time.time() - t0
            n_calls = res.nfe(steps, sampler, guidance=w)
            how = '' if not guided else ', unguided' if w == 1 else f", guided w={s['guidance']['w']:g}"
            key = f'{name}_nfe{n_calls}' + ('' if sampler == s['sampler'] else f'_{sampler}') + ('_unguided' if w == 1 else '')
            save_row(key, dict(recipe=a.recipe or name, sampler=f"{sampler} {steps} steps{how}", nfe=n_calls, lr=res.config['training']['lr'],
                           n_params=res.stats['n_params'], img_per_s=res.stats['img_per_s'], epochs=res.stats['epochs'],
                           steps=res.stats['steps'], train_time=res.stats['train_time'], sample_time=round(ts, 1),
                           **score(ev, x), config=dict(training=res.config['training'], net=res.model.config['net']['args'])))
            grid(x, key)

# ---------------------------------------------------------------- diffusers
def diffusers_unet(groups:int=8):
    "The small MNIST `UNet2DModel`: 32-64-64 channels, `groups` GroupNorm groups (at least 4 channels in each)."
    from diffusers import UNet2DModel
    return UNet2DModel(sample_size=28, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64, 64),
                       down_block_types=('DownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D'),
                       up_block_types=('AttnUpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'), norm_num_groups=groups)

def train_diffusers(lr:float, budget:float, bs:int=16, warmup:int=500, seed:int=0, groups:int=8):
    "diffusers' train_unconditional recipe, stopped after `budget` seconds of training; returns (EMA unet, scheduler, stats)."
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel
    from fastdiffusion.core import from_uint8
    from fastdiffusion.data import mnist5k_arrays
    torch.manual_seed(seed)
    x = from_uint8(torch.from_numpy(mnist5k_arrays()[0])[:, None])
    unet, sched = diffusers_unet(groups), DDPMScheduler(num_train_timesteps=1000, beta_schedule='linear')
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8)
    ema = EMAModel(unet.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0, power=3/4, model_cls=type(unet), model_config=unet.config)
    n_steps, n_img, t0, done = 0, 0, time.perf_counter(), False
    while not done:
        for idx in torch.randperm(len(x)).split(bs):
            el = time.perf_counter() - t0
            if el >= budget: done = True; break
            for g in opt.param_groups:   # linear warm-up, then cosine decay over the time budget
                g['lr'] = lr * min(1., (n_steps+1) / warmup) * 0.5 * (1 + math.cos(math.pi * el / budget))
            clean = x[idx]
            noise = torch.randn_like(clean)
            t = torch.randint(0, sched.config.num_train_timesteps, (len(clean),))
            loss = F.mse_loss(unet(sched.add_noise(clean, noise, t), t).sample, noise)
            opt.zero_grad(); loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step(); ema.step(unet.parameters())
            n_steps += 1; n_img += len(clean)
    tt = time.perf_counter() - t0
    ema.copy_to(unet.parameters())
    stats = dict(steps=n_steps, images=n_img, epochs=round(n_img / len(x), 2), train_time=round(tt, 1), img_per_s=round(n_img / tt, 1),
                 n_params=sum(p.numel() for p in unet.parameters()), loss=round(loss.item(), 5))
    return unet.eval(), sched, stats

@torch.no_grad()
def sample_diffusers(unet, scheduler, n:int, steps:int, seed:int=1, bs:int=500):
    "`n` images with `scheduler` (a DDIM or DPM-Solver++ scheduler) in `steps` steps, as diffusers' pipelines do."
    g, out = torch.Generator().manual_seed(seed), []
    for i in range(0, n, bs):
        scheduler.set_timesteps(steps)   # also resets a multistep scheduler's state
        x = torch.randn(min(bs, n-i), 1, 28, 28, generator=g) * scheduler.init_noise_sigma
        for t in scheduler.timesteps: x = scheduler.step(unet(x, t).sample, t, x).prev_sample
        out.append(x.clamp(-1, 1))
    return torch.cat(out)

def run_diffusers(a):
    "Train diffusers' recipe (or `--load` a network saved by `--save`, with its training stats) and score three of its samplers."
    from diffusers import UNet2DModel, DDPMScheduler, DDIMScheduler, DPMSolverMultistepScheduler
    lr = a.lr or 1e-4
    if a.load:
        unet, stats = UNet2DModel.from_pretrained(a.load).eval(), json.loads((Path(a.load)/'stats.json').read_text())
        sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule='linear')
    else:
        unet, sched, stats = train_diffusers(lr, a.budget, groups=a.groups)
        stats['groups'] = a.groups
    print(stats, flush=True)
    if a.save:
        unet.save_pretrained(a.save); (Path(a.save)/'stats.json').write_text(json.dumps(stats))
    ev = evaluator()
    name = a.name or f'diffusers_lr{lr:g}'
    dpm = lambda **kw: DPMSolverMultistepScheduler.from_config(sched.config, algorithm_type='dpmsolver++', **kw)
    for sname, s, steps in [('DDIM', DDIMScheduler.from_config(sched.config), 20), ('DPM-Solver++', dpm(), 10),
                            ('DPM-Solver++ thresholded', dpm(thresholding=True), 10)]:   # Imagen's dynamic thresholding
        t0 = time.time()
        x = sample_diffusers(unet, s, a.n_eval, steps)
        ts = time.time() - t0
        save_row(f'{name}_{sname.replace(" ", "_")}{steps}', dict(recipe=f'diffusers lr {lr:g}', sampler=f'{sname} {steps} steps', nfe=steps,
                                                               lr=lr, **stats, sample_time=round(ts, 1), **score(ev, x)))
        grid(x, f'{name}_{sname.lower().replace("+", "p").replace(" ", "_")}{steps}')

def run_check(a):
    "Are diffusers' samplers to blame? Score a saved diffusers network (`--load`) under other scheduler settings and DDPM's own sampler."
    from diffusers import UNet2DModel, DDIMScheduler, DPMSolverMultistepScheduler, DDPMScheduler
    if not a.load: raise SystemExit("check needs --load FOLDER (a network saved by `diffusers --save FOLDER`)")
    unet, base = UNet2DModel.from_pretrained(a.load).eval(), DDPMScheduler(num_train_timesteps=1000, beta_schedule='linear').config
    dpm = lambda **kw: DPMSolverMultistepScheduler.from_config(base, algorithm_type='dpmsolver++', **kw)
    ev, n = evaluator(), min(a.n_eval, 200)
    for name, s, steps, m in [('DDIM 20', DDIMScheduler.from_config(base), 20, n),
                              ('DDIM 20, trailing spacing', DDIMScheduler.from_config(base, timestep_spacing='trailing'), 20, n),
                              ('DPM-Solver++ 10', dpm(), 10, n), ('DPM-Solver++ 10, trailing spacing', dpm(timestep_spacing='trailing'), 10, n),
                              ('DPM-Solver++ 10, dynamic thresholding', dpm(thresholding=True), 10, n),
                              ('DPM-Solver++ 10, Karras sigmas', dpm(use_karras_sigmas=True), 10, n),
                              ('DDPM 1000 (ancestral)', DDPMScheduler.from_config(base), 1000, 16)]:
        x = sample_diffusers(unet, s, m, steps)
        fid = f"{ev.score(x)['fid']:9.1f}" if m >= 64 else '        –'
        print(f"{name:<40} {m:>4} images  FID {fid}  mean pixel {x.mean():+.3f} (real: -0.737)", flush=True)
        if steps == 1000: grid(x, f'check_{Path(a.load).name}_ddpm1000')

# ---------------------------------------------------------------- the table
def markdown_table(res:dict) -> str:
    "The results `res` (as in results.json) as a markdown table: ours (today's defaults, then notebook 09's) first, then by recipe and FID; the floor last."
    res = dict(res); floor = res.pop('floor')
    num = lambda v: f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    rows = ["| recipe | sampler | NFE | lr | params | img/s | epochs | FID | FID / floor | KID | confident |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    pct = lambda r: f"{r['confident']:.0%}" if 'confident' in r else ''
    res = {k: r for k, r in res.items() if 'recipe' in r}
    rank = lambda rec: 1 if rec == 'ours' else 0 if rec.startswith('ours') else 2   # today's recipe, notebook 09's, then diffusers'
    for k, r in sorted(res.items(), key=lambda kv: (rank(kv[1]['recipe']), kv[1]['recipe'], kv[1]['fid'])):
        rows.append(f"| {r['recipe']} | {r['sampler']} | {r['nfe']} | {r['lr']:g} | {r['n_params']/1e6:.2f}M | {r['img_per_s']:.0f} "
                    f"| {r['epochs']:.1f} | {num(r['fid'])} | {num(r['fid']/floor['fid'])} | {num(r['kid'])} | {pct(r)} |")
    spread = f" ± {floor['fid_std']:.2g}" if 'fid_std' in floor else ''
    rows.append(f"| real data (floor) | {floor['what']} | | | | | | {floor['fid']:.3g}{spread} | 1 | {floor['kid']:.2g} | {pct(floor)} |")
    hw = sorted({r['hardware'] for r in res.values()}); dates = sorted(r['date'] for r in res.values())
    if dates: rows.append(f"\n Measured {dates[0]} to {dates[-1]} on {', '.join(hw)}.")
    return '\n'.join(rows)

def run_table(a):
    res = json.loads(RESULTS.read_text())
    RESULTS.with_suffix('.md').write_text(markdown_table(res) + '\n')
    print(markdown_table(res))

@call_parse
def main(what:Param("what to run", str, choices=['floor', 'ours', 'diffusers', 'check', 'table']),
         lr:float=None, # learning rate (diffusers default 1e-4; ours: the recipe default)
         budget:float=600., # seconds of training
         n_eval:int=1000, # generated images scored against 2,500 real ones
         threads:int=2, # torch threads
         groups:int=8, # GroupNorm groups of the diffusers UNet (diffusers' default: 32)
         name:str=None, # row name in results.json (and of the grids)
         recipe:str=None, # the row's label in the table (ours; default: name)
         kw:str=None, # JSON dict of extra `train_diffusion` arguments (ours)
         samplers:str=None, # comma-separated samplers to score (ours; default: the recipe's)
         save:str=None, # folder to save the trained model in (ours, diffusers)
         load:str=None, # a diffusers network saved with --save (diffusers: score it without training; check)
         results:str=None): # JSON file to merge the results into (default: nbs/bench/results.json); grids go beside it
    "Quality at equal cost: our recipe against diffusers' unconditional-training recipe on MNIST-5k."
    global RESULTS
    torch.set_num_threads(threads)
    if results: RESULTS = Path(results).resolve(); RESULTS.parent.mkdir(parents=True, exist_ok=True)
    a = SimpleNamespace(lr=lr, budget=budget, n_eval=n_eval, groups=groups, name=name, recipe=recipe, kw=kw, samplers=samplers, save=save, load=load)
    dict(floor=run_floor, ours=run_ours, diffusers=run_diffusers, check=run_check, table=run_table)[what](a)
