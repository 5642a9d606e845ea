"""Non-centred data and the preconditioning: four ways to set the EDM scalings for MNIST, at equal training steps.

MNIST-5k in [-1,1] has mean -0.737 and standard deviation 0.617. EDM's scalings assume zero-mean data of standard
deviation sigma_data; this trial compares, with the recipe of `train_diffusion` otherwise unchanged and the same number
of steps (so the comparison does not depend on how busy the machine is):

- `today`:         sigma_data = the pixels' standard deviation, no centring (the recipe before this trial);
- `rms`:           sigma_data = the pixels' root mean square, sqrt(mean^2 + std^2), no centring;
- `centred`:       D = mu + c_skip (x - mu) + c_out F(c_in (x - mu)), mu the mean pixel, sigma_data = std;
- `centred_pixel`: the same with mu the mean image (one value per pixel) and sigma_data the RMS about it.

Each run prints and saves a JSON line: the first training losses, and FID / KID (1,000 samples against 2,500 real
digits, as `bench_diffusers.py` scores) with the fraction of samples the classifier of notebook 08 reads with
probability > 0.9, for DPM-Solver++(2M) and the teleport sampler at 10 NFE.

    python bench/centring.py run --variant rms --seed 0 --epochs 18
    python bench/centring.py table
"""
import json, time
from pathlib import Path
import torch
from fastcore.script import call_parse, Param

OUT = Path(__file__).resolve().parent.parent/'nbs'/'bench'/'centring'
VARIANTS = ('today', 'rms', 'centred', 'centred_pixel')

def data():
    from fastdiffusion.core import from_uint8
    from fastdiffusion.data import mnist5k_arrays
    return from_uint8(torch.from_numpy(mnist5k_arrays()[0])[:, None]).double()

def centred_denoiser():
    "A `Denoiser` that works on x - mu: D = mu + c_skip (x - mu) + c_out F(c_in (x - mu); c_noise)."
    from fastdiffusion.core import bcast, check_sigma
    from fastdiffusion.karras import Denoiser, c_skip, c_out, c_in, c_noise
    class Centred(Denoiser):
        def __init__(self, net, sigma_data, mu):
            super().__init__(net, sigma_data); self.register_buffer('mu', torch.as_tensor(mu, dtype=torch.float32))
        def forward(self, x, sigma, *args, **kw):
            sigma = check_sigma(sigma, x); s, sd, xc = bcast(sigma, x), self.sigma_data, x - self.mu
            return self.mu + c_skip(s, sd)*xc + c_out(s, sd)*self.net(c_in(s, sd)*xc, c_noise(sigma.clamp(min=1e-20)), *args, **kw)
    return Centred

def run(variant:str, seed:int, epochs:int):
    import fastdiffusion.train as T
    from fastdiffusion.core import set_seed
    from fastdiffusion.metrics import get_feature_extractor, ImageEvaluator
    x = data()
    mu_img = x.mean(0)
    sd, mu = {'today': (x.std().item(), None), 'rms': ((x**2).mean().sqrt().item(), None), 'centred': (x.std().item(), x.mean().item()),
              'centred_pixel': (((x - mu_img)**2).mean().sqrt().item(), mu_img.float())}[variant]
    if mu is not None: Centred = centred_denoiser(); T.Denoiser = lambda net, sigma_data: Centred(net, sd, mu)
    t0 = time.time()
    res = T.train_diffusion('mnist5k', epochs=epochs, sigma_data=sd, seed=seed, device='cpu', verbose=False)
    losses = res.learn.recorder.losses
    fe = get_feature_extractor(device='cpu', verbose=False)
    set_seed(0); perm = torch.randperm(len(x))
    ev = ImageEvaluator(fe, real=x[perm[2500:]].float(), device='cpu')
    out = dict(variant=variant, seed=seed, epochs=epochs, sigma_data=sd, steps=res.stats['steps'], train_time=round(time.time() - t0, 1),
               first_loss=losses[0], first20=sum(losses[:20]) / 20, last100=sum(losses[-100:]) / 100)
    for sampler in ('dpmpp_2m', 'teleport'):
        s = res.sample(1000, steps=10, sampler=sampler, seed=1, bs=500)
        with torch.no_grad(): p = torch.cat([fe.model(s[i:i+500]).softmax(1) for i in range(0, 1000, 500)])
        r = ev.score(s)
        out[sampler] = dict(fid=r['fid'], kid=r['kid'], confident=(p.max(1).values > 0.9).float().mean().item())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT/f'{variant}_s{seed}.json').write_text(json.dumps(out))
    print(json.dumps(out))

def table() -> str:
    "Mean ± std over seeds of every variant's results, as a markdown table."
    rows = [json.loads(f.read_text()) for f in sorted(OUT.glob('*.json'))]
    ms = lambda v: f"{torch.tensor(v).mean():.2f} ± {torch.tensor(v).std():.2f}" if len(v) > 1 else f"{v[0]:.2f}"
    lines = ['| variant | sigma_data | seeds | first loss | FID, DPM++(2M) 10 NFE | confident | FID, teleport 10 NFE | confident |', '|---|---|---|---|---|---|---|---|']
    for v in VARIANTS:
        rs = [r for r in rows if r['variant'] == v]
        if not rs: continue
        g = lambda s, k: [r[s][k] for r in rs]
        lines.append(f"| {v} | {rs[0]['sigma_data']:.3f} | {len(rs)} | {ms([r['first20'] for r in rs])} | {ms(g('dpmpp_2m', 'fid'))} | "
                     f"{ms(g('dpmpp_2m', 'confident'))} | {ms(g('teleport', 'fid'))} | {ms(g('teleport', 'confident'))} |")
    return '\n'.join(lines)

@call_parse
def main(what:Param("'run' one trial or print the 'table'", str, choices=['run', 'table']),
         variant:Param("how to handle the data's mean", str, choices=list(VARIANTS))='today',
         seed:int=0, # seeds the data order, the initial weights and the noise
         epochs:int=18, # training epochs (18: about 2,800 steps, 5 minutes on 2 threads)
         threads:int=1): # torch threads
    "Non-centred data and the preconditioning: four ways to set the EDM scalings, at equal training steps."
    torch.set_num_threads(threads)
    if what == 'run': run(variant, seed, epochs)
    else: print(table())
