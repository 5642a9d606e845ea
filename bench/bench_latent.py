"""Latent diffusion (notebook 14) against pixel diffusion at equal total training cost on MNIST-5k.

    OMP_NUM_THREADS=1 python bench/bench_latent.py --budget 300

Every model is charged for all the training it needs: the pixel model (the recipe's UNet) gets the whole `budget`;
a latent model gets `vae_frac` of it for its VAE (notebook 12, MSE + KL) and the rest for a DiT on the VAE's 7x7x4
latents (patch 1: one token per latent position), or a one-level UNet on them. Training speeds (forward, backward and optimiser step at batch 32),
the VAE's included, are measured side by side in one process, interleaved, and each model then trains for the number of steps its speed
buys (`max_steps`), so the comparison does not depend on how busy the machine is while it trains. Each model samples
1,000 digits at 10 network calls (DPM-Solver++(2M)); the latent ones are decoded. Scores use the classifier of
notebook 08: FID against 2,500 real digits, and the fraction read with a top probability above 0.9; sampling speed
includes decoding. The row `real` is the floor; `VAE reconstructions` scores the VAE alone on 1,000 real digits.
Results go to `nbs/bench/latent/` (`results.json`, `results.md`, a sample grid per model).

    OMP_NUM_THREADS=1 python bench/bench_latent.py --stated kl1e-3 --kl 1e-3 --vae_steps 4000

`--stated NAME` is the other reading of "equal budget": the VAE's cost is stated, not charged. A VAE is trained for
`vae_steps` (cosine LR decay to 2%) or loaded from `--vae_dir`, then a latent UNet (`--lunet`: channels x blocks) with
all of `train_diffusion`'s defaults trains for `--steps`, the steps of notebook 16's rows of the pixel recipe
(`bench_training.py --variant new_learned`, or `new_flow` since flow matching became the default, the same scoring: 1,000 class-balanced samples, the model alone at 10
NFE and the guided recipe). Its row goes to `nbs/bench/latent/stated.jsonl`, with the VAE's reconstruction FID, both
networks' forward cost (MFLOPs per image and call) and their sampling speed measured side by side.
"""
import json, time, datetime, platform
from pathlib import Path
import torch
from fastcore.script import call_parse

OUT = Path(__file__).resolve().parent.parent/'nbs'/'bench'/'latent'

def vae_throughput(vae, bs:int=32, secs:float=4.) -> float:
    "Training images per second of `vae` (MSE + KL, Adam), as `throughput` measures the denoisers."
    import torch.nn.functional as F
    from fastdiffusion.vae import kl
    opt, x = torch.optim.Adam(vae.parameters(), 1e-4), torch.rand(bs, 1, 28, 28) * 2 - 1
    n, t0 = 0, None
    for i in range(10**6):
        if i == 2: t0 = time.perf_counter()
        rec, mean, logvar = vae(x)
        loss = F.mse_loss(rec, x) + 1e-6 * kl(mean, logvar).mean(); opt.zero_grad(); loss.backward(); opt.step()
        if t0 is not None: n += bs
        if t0 is not None and time.perf_counter() - t0 > secs: break
    return n / (time.perf_counter() - t0)

LUNET = dict(nfs=(64,), n_blocks=2, attn_levels=(0,))   # one level: 7x7 latents do not halve

def _kl_sweep(dest, kls, bs, x, real, ev, fe):
    "The latent UNet's row of results.json again, with VAEs trained at other KL weights (same steps), to `kl_sweep.json`."
    from fastdiffusion.core import set_seed
    from fastdiffusion.vae import train_vae
    from fastdiffusion.train import train_diffusion
    res = json.loads((dest/'results.json').read_text())
    vae_steps, steps, rows = res['rows']['vae']['steps'], res['rows']['latent_unet']['steps'], []
    for kl in kls:
        ae = train_vae(x, steps=vae_steps, bs=bs, kl_weight=kl, verbose=False, device='cpu', seed=0)
        rec = ae.reconstruct(real)
        set_seed(0)
        t = train_diffusion(x, max_steps=steps, bs=bs, device='cpu', verbose=False, arch='unet', patch=1, vae=ae, **LUNET)
        s = t.sample(len(real), seed=1, bs=500)
        rows.append(dict(kl_weight=kl, vae_steps=vae_steps, steps=steps, scale=round(ae.scale, 4), kl=ae.stats.get('kl'),
                         rec_fid=round(ev.fid(rec), 3), fid=round(ev.fid(s), 3), confident=round(fe.confident(s), 4)))
        print(rows[-1], flush=True)
    (dest/'kl_sweep.json').write_text(json.dumps(rows, indent=1))

def _stated(name, dest, x, real, fe, ev, floor, vae_steps, kl, vae_dir, steps, lunet, n, vae_out=None, ft_steps=0, ft_gan=0., model_dir=None, save=None, vae_kw=None):
    "One latent model on a VAE whose training cost is stated (see the docstring), to `stated.jsonl`."
    from torch.utils.flop_counter import FlopCounterMode
    from fastdiffusion.core import set_seed, save_grid
    from fastdiffusion.data import mnist5k_arrays
    from fastdiffusion.train import train_diffusion, Trained, throughput
    from fastdiffusion.vae import train_vae, AutoEncoder
    from bench_training import score
    row = dict(name=name, floor=floor['fid'])
    if vae_dir: ae = AutoEncoder.load(vae_dir, device='cpu')
    else:
        ae = train_vae(x, **{**dict(steps=vae_steps, kl_weight=kl, final_lr=0.02, seed=0, device='cpu', verbose=False), **(vae_kw or {})})
        if vae_out: ae.save(vae_out)
    tr = ae.config['training']
    row.update(vae_steps=ae.stats['steps'], vae_s=ae.stats['train_time'], kl_weight=tr['kl_weight'], scale=ae.scale,
               vae={k: v for k, v in dict(seed=tr['seed'], gan_weight=tr['gan_weight'], disc_start=tr['gan_weight'] and tr['disc_start'], perceptual_weight=tr['perceptual_weight'],
                                         latent_shape=ae.latent_shape, nfs=ae.model.config['nfs']).items() if v})
    rec = ae.reconstruct(real)
    row.update(rec_fid=round(ev.fid(rec), 3), rec_confident=round(fe.confident(rec), 4))
    if ft_steps:   # the decoder alone, fine-tuned on the posterior means (notebook 12): same encoder, latents and scale
        ft = train_vae(x, init=ae, decoder_only=True, steps=ft_steps, gan_weight=ft_gan, disc_start=0, lr=2e-4, seed=0, device='cpu', verbose=False)
        if vae_out: ft.save(Path(vae_out)/'decoder_ft')
        rec = ft.reconstruct(real)
        row['ft'] = dict(steps=ft_steps, gan_weight=ft_gan, lr=2e-4, train_s=ft.stats['train_time'], rec_fid=round(ev.fid(rec), 3), rec_confident=round(fe.confident(rec), 4))
    print(row, flush=True)
    nf, nb = (int(v) for v in lunet.split('x'))
    arch = dict(nfs=(nf,), n_blocks=nb, attn_levels=(0,))
    y = torch.from_numpy(mnist5k_arrays()[1]).long()
    if model_dir: t = Trained.load(model_dir, device='cpu')   # a latent model trained before, on this VAE's latents (decoded below by `ae`)
    else:
        set_seed(0)
        t = train_diffusion((x, y), max_steps=steps, seed=0, device='cpu', verbose=False, arch='unet', patch=1, vae=ae, **arch)
        if save: t.save(save, n_samples=0)
    row.update(lunet=lunet, steps=t.config['training']['max_steps'], n_params=t.stats['n_params'], train_s=t.stats['train_time'],
               objective=t.config['training']['objective'])   # rows without it: 'edm' (before flow matching became the default)
    labels = torch.arange(n) % 10
    for key, dec in [('', ae)] + ([('ft_', ft)] if ft_steps else []):   # the same latent samples, decoded by each decoder
        t.vae = dec
        r, xs = score(t, fe, ev, n, labels, steps=10, guidance=1); row[key + 'unguided'] = r
        r, xs = score(t, fe, ev, n, labels); row[key + 'guided'] = r
        save_grid(xs[:64], dest/f'stated_{name}{"_decoder_ft" if key else ""}.png', nrow=8)
    px = train_diffusion((x, y), max_steps=1, seed=0, device='cpu', verbose=False)   # the pixel recipe's network and sampler (for speed only)
    def mflops(f, shape):
        with FlopCounterMode(display=False) as c: f(torch.randn(4, *shape))
        return round(c.get_total_flops() / 4 / 1e6, 1)
    lab4, one = torch.zeros(4, dtype=torch.long), torch.ones(4)
    with torch.no_grad():
        row['mflops'] = dict(pixel=mflops(lambda z: px.model.net(z, one, labels=lab4), (1, 28, 28)),
                             latent=mflops(lambda z: t.model.net(z, one, labels=lab4), ae.latent_shape), decode=mflops(ae.model.decode, ae.latent_shape))
    sp, tr = dict(pixel=[], latent=[]), dict(pixel=[], latent=[])
    for _ in range(3):   # interleaved, best of three: what each costs when the machine is least busy
        for k, m in (('pixel', px), ('latent', t)):
            t0 = time.perf_counter(); m.sample(500, seed=1, bs=500, labels=torch.arange(500) % 10); sp[k].append(500 / (time.perf_counter() - t0))
            tr[k].append(throughput((m.raw_model if m.learn is not None else m.model).net, tuple(m.config['image_shape']), secs=3.))   # a loaded model has no `learn`
    row['sample_img_per_s'] = {k: round(max(v), 1) for k, v in sp.items()}
    row['train_img_per_s'] = {k: round(max(v), 1) for k, v in tr.items()}
    print(row, flush=True)
    with open(dest/'stated.jsonl', 'a') as f: f.write(json.dumps(row) + '\n')

@call_parse
def main(budget:float=300., # seconds of training each model's measured speed buys, VAE included
         vae_frac:float=1/3, # the share of a latent model's budget spent on its VAE
         n:int=1000, # samples scored per model
         rounds:int=3, secs:float=4., # interleaved speed measurements per network, seconds each
         bs:int=32, out:str=None,
         kl_sweep:str=None, # e.g. '1e-4,1e-3': instead, retrain the VAE with these KL weights and the latent UNet on it, at the steps of results.json
         stated:str=None, # a name: instead, one latent model on a VAE whose cost is stated (see above), to stated.jsonl
         vae_steps:int=4000, kl:float=1e-3, vae_dir:str=None, # with `stated`: the VAE's steps and KL weight, or a saved VAE
         vae_kw:str=None, # with `stated`: more `train_vae` arguments as JSON, e.g. '{"gan_weight": 0.5, "disc_start": 2000}'
         vae_out:str=None, # with `stated`: save the VAE trained here in this folder (and the fine-tuned one in its `decoder_ft`)
         ft_steps:int=0, ft_gan:float=0., # with `stated`: then fine-tune the decoder alone on the posterior means for these steps (+ this GAN weight); both decoders are scored
         model_dir:str=None, save:str=None, # with `stated`: a latent model trained before on the VAE's latents instead of training one; save the one trained here
         steps:int=2500, lunet:str='64x2'): # with `stated`: the denoiser's steps, and the latent UNet's channels x blocks
    "Train the pixel recipe and latent models for the same total budget, sample each at 10 NFE and score them."
    from fastdiffusion.core import set_seed, save_grid
    from digit_eval import digit_eval
    from fastdiffusion.unet import PatchUNet
    from fastdiffusion.transformer import DiT
    from fastdiffusion.train import train_diffusion, throughput, DIT_DEFAULTS
    from fastdiffusion.vae import train_vae, VAE
    torch.set_num_threads(1)
    dest = Path(out) if out else OUT; dest.mkdir(parents=True, exist_ok=True)
    fe, ev, x, real, floor = digit_eval(n, 'real digits')
    rows = dict(real=floor)
    if stated: return _stated(stated, dest, x, real, fe, ev, floor, vae_steps, kl, vae_dir, steps, lunet, n, vae_out, ft_steps, ft_gan, model_dir, save, json.loads(vae_kw) if vae_kw else None)
    if kl_sweep: return _kl_sweep(dest, [float(v) for v in kl_sweep.split(',')], bs, x, real, ev, fe)
    dits = dict(latent_dit=DIT_DEFAULTS, latent_dit_small=dict(DIT_DEFAULTS, dim=64))
    lunet = LUNET
    set_seed(0)
    nets = dict(pixel_unet=(PatchUNet(1, 2, nfs=[32, 64], n_blocks=1, attn_levels=[1]), (1, 28, 28)),
                **{k: (DiT(4, patch=1, **d), (4, 7, 7)) for k, d in dits.items()},
                latent_unet=(PatchUNet(4, 1, **lunet), (4, 7, 7)))
    vae_net = VAE()
    ips = {k: [] for k in [*nets, 'vae']}
    for _ in range(rounds):
        for k, (m, shape) in nets.items(): ips[k].append(throughput(m, shape, bs=bs, secs=secs))
        ips['vae'].append(vae_throughput(vae_net, bs, secs))
    ips = {k: sum(v)/len(v) for k, v in ips.items()}
    vae_s = bs / ips.pop('vae')   # seconds per VAE training step
    print('training img/s', ips, 'VAE s/step', round(vae_s, 4), flush=True)
    vae_steps = round(budget * vae_frac / vae_s)
    t0 = time.perf_counter()
    ae = train_vae(x, steps=vae_steps, bs=bs, verbose=False, device='cpu', seed=0)
    vae_time = time.perf_counter() - t0
    rec = ae.reconstruct(real)
    rows['vae'] = dict(name=f'VAE reconstructions ({vae_steps:,} steps)', fid=round(ev.fid(rec), 3), confident=round(fe.confident(rec), 4),
                       steps=vae_steps, train_time=round(vae_time, 1), scale=round(ae.scale, 4))
    names = dict(pixel_unet='pixel UNet (the recipe: 2x2 blocks, channels 32,64)',
                 latent_dit=f"latent DiT (VAE + DiT dim {DIT_DEFAULTS['dim']}, depth {DIT_DEFAULTS['depth']}, patch 1)",
                 latent_dit_small=f"latent DiT, small (VAE + DiT dim 64, depth {DIT_DEFAULTS['depth']}, patch 1)",
                 latent_unet='latent UNet (VAE + one-level UNet, 64 channels, 2 blocks, attention)')
    for k in nets:
        share = budget if k == 'pixel_unet' else budget * (1 - vae_frac)
        steps = round(share * ips[k] / bs)
        kw = (dict(arch='unet') if k == 'pixel_unet' else dict(arch='unet', patch=1, vae=ae, **lunet) if k == 'latent_unet'
              else dict(arch='dit', patch=1, dit=dits[k], vae=ae))
        set_seed(0)
        t = train_diffusion(x, max_steps=steps, bs=bs, device='cpu', verbose=False, **kw)
        t.sample(8, seed=0)   # warm-up
        t0 = time.perf_counter(); s = t.sample(n, seed=1, bs=500); sample_s = time.perf_counter() - t0
        t0 = time.perf_counter(); t.sample(n, seed=1, bs=500, decode=False); denoise_s = time.perf_counter() - t0
        rows[k] = dict(name=names[k], n_params=t.stats['n_params'], train_img_per_s=round(ips[k], 1), steps=steps,
                       train_time=t.stats['train_time'], epochs=t.stats['epochs'], fid=round(ev.fid(s), 3), confident=round(fe.confident(s), 4),
                       sample_img_per_s=round(n / sample_s, 1), decode_share=round(1 - denoise_s / sample_s, 3) if k != 'pixel_unet' else 0.)
        save_grid(s[:64], dest/f'{k}.png', nrow=8, scale=1)
        print(k, rows[k], flush=True)
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), budget=budget, vae_frac=vae_frac, bs=bs,
                n=n, threads=torch.get_num_threads(), torch=torch.__version__, machine=platform.processor() or platform.machine(),
                sampler='dpmpp_2m', nfe=10, vae_s_per_step=round(vae_s, 4), speed=dict(rounds=rounds, secs=secs))
    (dest/'results.json').write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    md = [f"Budget {budget:g} s of training per model at the speeds measured side by side ({meta['threads']} thread, batch {bs}); "
          f"a latent model spends {vae_frac:.0%} of it on its VAE. {n} samples each at 10 NFE (DPM-Solver++(2M)); FID against 2,500 real digits.", '',
          '| model | parameters (denoiser) | training img/s | steps | FID | FID / floor | p > 0.9 | sampling img/s (10 NFE, decoded) |', '|---|---|---|---|---|---|---|---|']
    fl = rows['real']['fid']
    for k in nets:
        r = rows[k]
        md.append(f"| {r['name']} | {r['n_params']/1e6:.2f} M | {r['train_img_per_s']:.0f} | {r['steps']:,} | {r['fid']:.2f} | {r['fid']/fl:.1f} | "
                  f"{r['confident']:.1%} | {r['sample_img_per_s']:.0f} |")
    for k in ('vae', 'real'):
        r = rows[k]; md.append(f"| {r['name']} | | | {r.get('steps', '')} | {r['fid']:.2f} | {r['fid']/fl:.1f} | {r['confident']:.1%} | |")
    (dest/'results.md').write_text('\n'.join(md) + '\n')
    print('\n'.join(md))
