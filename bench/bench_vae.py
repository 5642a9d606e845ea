"""What each loss of the autoencoder adds, at equal training steps: MSE (+KL), + perceptual, + perceptual + PatchGAN.

    OMP_NUM_THREADS=1 python bench/bench_vae.py                     # the run shown in notebook 12 (about 7 minutes)
    python bench/bench_vae.py --steps 200 --only mse --save runs/vae  # a quick look; `--save` keeps the checkpoints

MNIST-5k, a seeded split (as `bench_restore.py`): 4,000 training digits, 500 held-out digits to reconstruct, 500 other
held-out digits as the FID reference. Reported per variant: PSNR and SSIM of the reconstructions against their
originals, the reconstruction FID (features of notebook 08's classifier, reconstructions vs the reference set) and,
once, the real-data floor (held-out digits vs the reference set). Results go to `nbs/bench/vae/` (`results.json` and
`grid.png`: originals, then one row per variant).
"""
import json, time, datetime, os
from pathlib import Path
import torch
from fastcore.script import call_parse

HERE = Path(__file__).resolve().parent
OUT = HERE.parent/'nbs'/'bench'/'vae'
N_EVAL = 500
VARIANTS = {'mse': dict(),
            'mse+perceptual': dict(perceptual_weight=0.1),
            'mse+perceptual+gan': dict(perceptual_weight=0.1, gan_weight=0.5)}

def digits():
    "(train, held-out to reconstruct, reference): 4,000, 500 and 500 digits of a seeded permutation of MNIST-5k."
    from fastdiffusion.core import from_uint8, make_generator
    from fastdiffusion.data import mnist5k_arrays
    X, _ = mnist5k_arrays()
    x, perm = from_uint8(torch.from_numpy(X)[:, None]), torch.randperm(len(X), generator=make_generator(0))
    return x[perm[:4000]], x[perm[4000:4000 + N_EVAL]], x[perm[4000 + N_EVAL:]]

@call_parse
def main(steps:int=800, # optimiser steps per variant (batch 32)
         only:str=None, # comma-separated variants to run (default: all)
         save:str=None, # folder to keep the trained autoencoders in (one sub-folder per variant)
         seed:int=0):
    from fastdiffusion.core import save_grid
    from fastdiffusion.crappify import psnr
    from fastdiffusion.restore import ssim
    from fastdiffusion.metrics import get_feature_extractor, fid
    from fastdiffusion.vae import train_vae
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 1)))
    x_tr, x_te, ref = digits()
    fe = get_feature_extractor(device='cpu', verbose=False)
    f_ref = fe(ref)
    floor = fid(fe(x_te), f_ref)
    res = dict(meta=dict(steps=steps, bs=32, disc_start=steps // 2, n_train=len(x_tr), n_eval=N_EVAL, floor_fid=round(floor, 4),
                         threads=torch.get_num_threads(), date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')), rows={})
    imgs = [x_te[:10]]
    for name, kw in VARIANTS.items():
        if only and name not in only.split(','): continue
        ae = train_vae(x_tr, steps=steps, bs=32, disc_start=steps // 2, seed=seed, device='cpu', verbose=False, **kw)
        rec = ae.reconstruct(x_te)
        r = dict(psnr=round(psnr(rec, x_te).mean().item(), 2), ssim=round(ssim(rec, x_te).mean().item(), 4), fid=round(fid(fe(rec), f_ref), 4),
                 train_s=ae.stats['train_time'], scale=round(ae.scale, 4), latent_std=round(ae.encode(x_te, sample=True).std().item(), 3),
                 final=dict(mse=ae.stats['mse'], kl=ae.stats['kl'], lam=ae.stats['lam']), losses=ae.config['losses'], **kw)
        res['rows'][name] = r; imgs.append(rec[:10]); print(name, r, flush=True)
        if save: ae.save(Path(save)/name)
    OUT.mkdir(parents=True, exist_ok=True)
    if not only:
        (OUT/'results.json').write_text(json.dumps(res, indent=1))
        save_grid(torch.cat(imgs), OUT/'grid.png', nrow=10, scale=2)
    print(json.dumps(res['meta']))
