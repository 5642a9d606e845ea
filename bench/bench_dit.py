"""The course's recipe with a transformer (DiT, notebook 13) against its UNet at equal cost on MNIST-5k.

    OMP_NUM_THREADS=1 python bench/bench_dit.py --budget 150

Both raw networks' training speed (images per second, `throughput`: forward, backward and AdamW step at batch size 32)
is measured side by side in one process, interleaved over a few rounds; each then trains with `train_diffusion` for the
number of steps its speed buys in `budget` seconds (`max_steps`, so the comparison does not depend on how busy the
machine is during training). Each model samples 1,000 digits at 10 network calls (DPM-Solver++(2M), the recipe's
sampler), scored with the classifier of notebook 08: FID against 2,500 real digits (half B of a seeded permutation),
and the fraction the classifier reads with a top probability above 0.9. The row `real` scores 1,000 real digits of
half A the same way (the floor). Results go to `nbs/bench/dit/` (`results.json`, `results.md`, `unet.png`, `dit.png`).
"""
import json, time, datetime, platform
from pathlib import Path
import torch
from fastcore.script import call_parse

OUT = Path(__file__).resolve().parent.parent/'nbs'/'bench'/'dit'

def speeds(nets:dict, rounds:int, secs:float, bs:int) -> dict:
    "Training images per second of each network, measured in turn over `rounds` rounds (the mean)."
    from fastdiffusion.train import throughput
    out = {k: [] for k in nets}
    for _ in range(rounds):
        for k, m in nets.items(): out[k].append(throughput(m, bs=bs, secs=secs))
    return {k: sum(v)/len(v) for k, v in out.items()}

@call_parse
def main(budget:float=150., # seconds of training each network's measured speed buys
         n:int=1000, # samples scored per model
         rounds:int=3, # interleaved speed measurements per network
         secs:float=4., # seconds per speed measurement
         bs:int=32, # batch size (the recipe's)
         out:str=None): # results folder (default nbs/bench/dit)
    "Train the recipe's UNet and a DiT for the same budget, sample both at 10 NFE and score them."
    from fastdiffusion.core import set_seed, save_grid
    from digit_eval import digit_eval
    from fastdiffusion.unet import PatchUNet
    from fastdiffusion.transformer import DiT
    from fastdiffusion.train import train_diffusion, DIT_DEFAULTS
    torch.set_num_threads(1)
    dest = Path(out) if out else OUT; dest.mkdir(parents=True, exist_ok=True)
    fe, ev, x, real, floor = digit_eval(n, 'real digits (half A)')
    rows = dict(real=floor)
    set_seed(0)
    nets = dict(unet=PatchUNet(1, 2, nfs=[32, 64], n_blocks=1, attn_levels=[1]), dit=DiT(1, patch=4, **DIT_DEFAULTS))
    ips = speeds(nets, rounds, secs, bs)
    print('training img/s', ips, flush=True)
    names = dict(unet='UNet (recipe: 2x2 blocks, channels 32,64)',
                 dit=f"DiT (4x4 patches, dim {DIT_DEFAULTS['dim']}, depth {DIT_DEFAULTS['depth']}, {DIT_DEFAULTS['heads']} heads)")
    for k in ('unet', 'dit'):
        steps = round(budget * ips[k] / bs)
        t = train_diffusion('mnist5k', arch=k, max_steps=steps, bs=bs, device='cpu', verbose=False)
        t0 = time.perf_counter()
        s = t.sample(n, seed=1, bs=500)
        sample_s = time.perf_counter() - t0
        rows[k] = dict(name=names[k], n_params=t.stats['n_params'], train_img_per_s=round(ips[k], 1), steps=steps,
                       train_time=t.stats['train_time'], epochs=t.stats['epochs'], loss=t.stats['loss'],
                       fid=round(ev.fid(s), 3), confident=round(fe.confident(s), 4), sample_img_per_s=round(n / sample_s, 1))
        save_grid(s[:64], dest/f'{k}.png', nrow=8, scale=1)
        print(k, rows[k], flush=True)
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), budget=budget, bs=bs, n=n,
                threads=torch.get_num_threads(), torch=torch.__version__, machine=platform.processor() or platform.machine(),
                sampler='dpmpp_2m', nfe=10, speed=dict(rounds=rounds, secs=secs))
    (dest/'results.json').write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    md = [f"Budget {budget:g} s of training each at the speed measured side by side ({meta['threads']} thread, batch size {bs}); "
          f"{n} samples each at 10 NFE (DPM-Solver++(2M)); FID against 2,500 real digits.", '',
          '| model | parameters | training img/s | steps | epochs | FID | p > 0.9 | sampling img/s (10 NFE) |', '|---|---|---|---|---|---|---|---|']
    for k in ('unet', 'dit'):
        r = rows[k]
        md.append(f"| {r['name']} | {r['n_params']/1e6:.2f} M | {r['train_img_per_s']:.0f} | {r['steps']:,} | {r['epochs']} | {r['fid']:.2f} | "
                  f"{r['confident']:.1%} | {r['sample_img_per_s']:.0f} |")
    r = rows['real']; md.append(f"| {r['name']} | | | | | {r['fid']:.2f} | {r['confident']:.1%} | |")
    (dest/'results.md').write_text('\n'.join(md) + '\n')
    print('\n'.join(md))
