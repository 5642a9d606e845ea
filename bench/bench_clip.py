"""Notebook 15's measurements: zero-shot accuracy of a tiny CLIP on held-out MNIST-5k digits, and how often the course's
classifier reads text-guided samples (classifier-free, and noisy-CLIP guidance of an unconditional model) as the digit
the prompt names. Writes nbs/bench/clip/results.json and sample grids. Run from the repository root:
`OMP_NUM_THREADS=1 python bench/bench_clip.py` (about 10 minutes on one CPU thread)."""
import json, time
from pathlib import Path
import torch
from fastcore.script import call_parse
from fastdiffusion.core import from_uint8, make_generator, save_grid, set_seed
from fastdiffusion.data import mnist5k_arrays
from fastdiffusion.metrics import get_feature_extractor
from fastdiffusion.samplers import generate
from fastdiffusion.train import train_diffusion
from fastdiffusion.clip import (train_clip, zero_shot, digit_prompts, train_text_diffusion, text_to_image, CLIPGuided,
                                measure_digits, DIGIT_WORDS)

@torch.no_grad()
def predict(fe, x): return torch.cat([fe.model(xb.to(fe.device)).argmax(1).cpu() for xb in x.split(500)])

def read_as(fe, imgs, digits) -> dict:
    "Fraction of `imgs` the classifier assigns to `digits`, overall and per digit."
    ok = (predict(fe, imgs) == digits).float()
    return dict(overall=round(ok.mean().item(), 4), per_digit=[round(ok[digits == d].mean().item(), 4) for d in range(10)])

@call_parse
def main(out:str='nbs/bench/clip', # where to write results.json and the grids
         n_per:int=100, # samples per digit prompt
         clip_steps:int=500, # CLIP training steps (batch 256)
         text_epochs:int=8, # epochs of the text-conditional denoiser (4,500 images, batch 32)
         uncond_steps:int=840, # steps of the unconditional denoiser (batch 32)
         ws:str='1,2,4', # classifier-free guidance weights
         scales:str='3,10,30', # noisy-CLIP guidance scales
         threads:int=1):
    torch.set_num_threads(threads); set_seed(0)
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    X, Y = mnist5k_arrays()
    perm = torch.randperm(len(X), generator=make_generator(0))
    x, y = from_uint8(torch.from_numpy(X)[:, None])[perm], torch.from_numpy(Y)[perm]
    x_tr, y_tr, x_te, y_te = x[:4500], y[:4500], x[4500:], y[4500:]
    fe, res, t00 = get_feature_extractor(device='cpu', verbose=False), dict(n_per=n_per), time.time()
    res['classifier_on_held_out'] = round((predict(fe, x_te) == y_te).float().mean().item(), 4)

    t0 = time.time(); clip = train_clip(x_tr, y_tr, steps=clip_steps, device='cpu')
    res['zero_shot'] = round((zero_shot(clip, x_te, digit_prompts()) == y_te).float().mean().item(), 4)
    res['zero_shot_numerals'] = round((zero_shot(clip, x_te, [f'a handwritten {d}' for d in range(10)]) == y_te).float().mean().item(), 4)
    res['clip'] = dict(steps=clip_steps, time=round(time.time() - t0, 1), loss=round(sum(clip.losses[-20:]) / len(clip.losses[-20:]), 3))
    print(res, flush=True)
    t0 = time.time(); nclip = train_clip(x_tr, y_tr, steps=clip_steps, noisy=True, device='cpu')
    res['zero_shot_noisy'] = round((zero_shot(nclip, x_te, digit_prompts(), sigma=0.01) == y_te).float().mean().item(), 4)
    res['zero_shot_noisy_by_sigma'] = {str(s): round((zero_shot(nclip, x_te + s * torch.randn(x_te.shape, generator=make_generator(1)), digit_prompts(), sigma=s)
                                                      == y_te).float().mean().item(), 4) for s in (0.1, 0.5, 1., 2., 5.)}
    res['noisy_clip'] = dict(steps=clip_steps, time=round(time.time() - t0, 1), loss=round(sum(nclip.losses[-20:]) / len(nclip.losses[-20:]), 3))
    print(res, flush=True)

    t0 = time.time(); tmodel = train_text_diffusion(clip, x_tr, y_tr, epochs=text_epochs, device='cpu')
    res['text_model'] = dict(tmodel.stats, time=round(time.time() - t0, 1))
    t0 = time.time(); umodel = train_diffusion(x_tr, max_steps=uncond_steps, verbose=False, device='cpu').model
    res['uncond_model'] = dict(steps=uncond_steps, time=round(time.time() - t0, 1))
    print(res, flush=True)

    digits = torch.arange(10).repeat_interleave(n_per)
    prompts = [digit_prompts()[d] for d in digits.tolist()]
    res['guidance'] = dict(cfg=[], clip=[])
    for w in map(float, ws.split(',')):
        t0 = time.time(); imgs = text_to_image(tmodel, clip, prompts, w=w, steps=10, seed=0)
        res['guidance']['cfg'].append(dict(param=w, **read_as(fe, imgs, digits), time=round(time.time() - t0, 1)))
        save_grid(imgs.view(10, n_per, 1, 28, 28)[:, :10].reshape(-1, 1, 28, 28), out/f'text_w{w:g}.png', nrow=10, scale=2)
        print(res['guidance']['cfg'][-1], flush=True)
    best = max(res['guidance']['cfg'], key=lambda r: r['overall']); res['best_w'] = best['param']
    (out/'text_samples.png').write_bytes((out/f"text_w{best['param']:g}.png").read_bytes())
    temb = nclip.encode_text(prompts).detach()
    for s in map(float, scales.split(',')):
        t0 = time.time()
        imgs = generate(CLIPGuided(umodel, nclip, temb[0], scale=s), n=len(prompts), steps=10, seed=0, extra_args=dict(txt_emb=temb))
        res['guidance']['clip'].append(dict(param=s, **read_as(fe, imgs, digits), time=round(time.time() - t0, 1)))
        save_grid(imgs.view(10, n_per, 1, 28, 28)[:, :10].reshape(-1, 1, 28, 28), out/f'clip_guided_s{s:g}.png', nrow=10, scale=2)
        print(res['guidance']['clip'][-1], flush=True)
    un = generate(umodel, n=len(prompts), steps=10, seed=0)
    res['guidance']['none'] = [dict(param=0, **read_as(fe, un, digits))]   # chance: the digit mix of unguided samples

    # attribute prompts: "a thick seven" against "a thin seven", for every digit, at the best weight
    k = max(1, n_per // 5)
    th = {}
    for word in ('thick', 'thin'):
        ps = [f'a {word} {DIGIT_WORDS[d]}' for d in range(10) for _ in range(k)]
        th[word] = measure_digits(text_to_image(tmodel, clip, ps, w=best['param'], steps=10, seed=1))['thickness']
    res['thickness'] = dict(n=len(th['thick']), thick_mean=round(th['thick'].mean().item(), 3), thin_mean=round(th['thin'].mean().item(), 3),
                            train_mean=round(measure_digits(x_tr)['thickness'].mean().item(), 3), bins=clip.bins['thickness'],
                            thick_above_thin_median=round((th['thick'] > th['thin'].median()).float().mean().item(), 4))
    res['total_time'] = round(time.time() - t00, 1)
    (out/'results.json').write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
