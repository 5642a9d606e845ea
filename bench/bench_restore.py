"""Restoration at equal training cost: for each task of `fastdiffusion.restore`, the classical baseline, the regression
model, the conditional diffusion model (same network, same number of training steps) and, where one applies, a
training-free method driving an unconditional model of clean images.

    python bench/bench_restore.py uncond --out runs/restore        # unconditional models of digits and of photo crops
    python bench/bench_restore.py tasks --out runs/restore         # train and score every task (resumes: skips scored ones)
    python bench/bench_restore.py residual --epochs 5           # trial: learn the image or the residual (superres4)
    python bench/bench_restore.py table

Digits: MNIST-5k, a seeded split into 4,000 training and 1,000 held-out digits; each method restores the first 500
held-out digits; FID (features of `08_metrics`' classifier) is taken against the other 500 held-out digits, and the
classifier also says whether the restoration reads as the clean digit's label. Photographs (colourisation): crops of
scikit-image's photographs, training crops from 6 photographs, 500 held-out crops from 2 others (`photo_crops`); no
FID (the course has no feature network for photographs). Regression and diffusion models train for the same number of
steps (`--epochs` over the training set, batch 32), so equal cost whatever else runs on the machine. Results go to
`nbs/bench/restore/` (`results.json`, `results.md`, one grid per task).
"""
import json, time, datetime
from pathlib import Path
import torch
from fastcore.script import call_parse, Param

HERE = Path(__file__).resolve().parent
OUT = HERE.parent/'nbs'/'bench'/'restore'
DIGIT_TASKS = ['superres2', 'superres4', 'jpeg', 'watermark', 'deblur', 'inpaint']
PHOTO_TASKS = ['colorize']
N_EVAL = 500

def digits():
    "(train, test, test labels, reference): 4,000 training digits, 500 held-out to restore (and labels), 500 other held-out for FID."
    from fastdiffusion.core import from_uint8, make_generator
    from fastdiffusion.data import mnist5k_arrays
    X, Y = mnist5k_arrays()
    x, perm = from_uint8(torch.from_numpy(X)[:, None]), torch.randperm(len(X), generator=make_generator(0))
    return x[perm[:4000]], x[perm[4000:4000 + N_EVAL]], torch.from_numpy(Y)[perm[4000:4000 + N_EVAL]].long(), x[perm[4000 + N_EVAL:]]

def photos():
    from fastdiffusion.data import photo_crops
    return photo_crops(8000, 32, 'train', seed=0), photo_crops(N_EVAL, 32, 'valid', seed=1)

def uncond(out:Path, epochs_digits:int, epochs_photos:int, which:str='digits,photos'):
    "Unconditional models of the training digits and of the training photo crops (the course's recipe), for the training-free methods."
    from fastdiffusion.train import train_diffusion
    if 'digits' in which:
        t = train_diffusion(digits()[0], epochs=epochs_digits, device='cpu', verbose=False); t.save(out/'uncond_digits', n_samples=0); print('digits', t.stats, flush=True)
    if 'photos' in which:
        t = train_diffusion(photos()[0], epochs=epochs_photos, device='cpu', verbose=False); t.save(out/'uncond_photos', n_samples=0); print('photos', t.stats, flush=True)

def scores(x, clean, fe=None, ev=None, ref=None, labels=None) -> dict:
    from fastdiffusion.crappify import psnr
    from fastdiffusion.restore import ssim
    r = dict(psnr=round(psnr(x, clean).mean().item(), 2), ssim=round(ssim(x, clean).mean().item(), 3))
    if ev is not None:
        r['fid'] = round(ev.fid(x, ref), 3)
        with torch.no_grad(): r['label_acc'] = round((fe.model(x).argmax(1) == labels).float().mean().item(), 4)
    return r

def training_free(task, t, cond, clean, uncond):
    "The training-free method for `task` from the unconditional model, or None: (name, images, NFE)."
    from fastdiffusion.restore import pigdm_restore, inpaint_replace
    sd = uncond.model.sigma_data
    if task == 'inpaint':
        return [('replacement (20 steps)', lambda: inpaint_replace(uncond.model, cond[:, :-1], cond[:, -1:], steps=20, seed=1), 20),
                ('RePaint (10 steps x 2)', lambda: inpaint_replace(uncond.model, cond[:, :-1], cond[:, -1:], steps=10, resample=2, seed=1), 20),
                ('PiGDM (Heun, 10 steps)', lambda: pigdm_restore(uncond.model, *_op_y(task, cond, clean), clean.shape[1:], steps=10, sigma_data=sd, seed=1), 19)]
    if task in ('superres2', 'superres4', 'colorize'):
        return [('PiGDM (Heun, 10 steps)', lambda: pigdm_restore(uncond.model, *_op_y(task, cond, clean), clean.shape[1:], steps=10, sigma_data=sd, seed=1), 19)]
    return []

def _op_y(task, cond, clean):
    from fastdiffusion.restore import linear_op
    A, Ap = linear_op(task, cond)
    return A(clean), A, Ap

def tasks(out:Path, epochs:int, only:str|None):
    from fastdiffusion.core import save_grid, make_generator
    from fastdiffusion.metrics import get_feature_extractor, ImageEvaluator
    from fastdiffusion.restore import get_task, train_restorer, Restorer
    from fastdiffusion.train import Trained
    OUT.mkdir(parents=True, exist_ok=True)
    f = OUT/'results.json'
    res = json.loads(f.read_text()) if f.exists() else dict(meta={}, rows={})
    fe = get_feature_extractor(device='cpu', verbose=False)
    x_tr, x_te, y_te, ref = digits()
    p_tr, p_te = photos()
    ev = ImageEvaluator(fe, device='cpu')
    res['meta'].update(epochs=epochs, n_eval=N_EVAL, date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
                       floor_fid=round(ev.fid(x_te, ref), 3))
    for task in (only.split(',') if only else DIGIT_TASKS + PHOTO_TASKS):
        if task in res['rows'] and not only: print('done', task); continue
        t, photo = get_task(task), task in PHOTO_TASKS
        tr, te = (p_tr, p_te) if photo else (x_tr, x_te)
        kw = dict(fe=None, ev=None) if photo else dict(fe=fe, ev=ev, ref=ref, labels=y_te)
        cond = t.degrade(te, make_generator(7))
        rows, imgs = {}, {'degraded': t.baseline(cond) if task in ('colorize', 'inpaint') else cond}
        rows['baseline'] = dict(method='classical baseline', **scores(t.baseline(cond), te, **kw))
        for kind in ('regression', 'diffusion'):
            d = out/f'{task}_{kind}'
            r = Restorer.load(d, device='cpu') if (d/'model.safetensors').exists() else train_restorer(task, tr, kind=kind, time_budget=None, epochs=epochs, device='cpu', verbose=False)
            if not (d/'model.safetensors').exists(): r.save(d)
            t0 = time.time(); o = r.restore(cond, seed=1); dt = time.time() - t0
            rows[kind] = dict(method=f'{kind} model', nfe=1 if kind == 'regression' else 10, ms_per_image=round(1000 * dt / len(te), 2),
                              train_steps=r.stats['steps'], train_s=r.stats['train_time'], **scores(o, te, **kw))
            imgs[kind] = o; print(task, kind, rows[kind], flush=True)
        um = out/('uncond_photos' if photo else 'uncond_digits')
        if (um/'model.safetensors').exists():
            u = Trained.load(um, device='cpu')
            for name, run, nfe in training_free(task, t, cond, te, u):
                t0 = time.time(); o = run(); dt = time.time() - t0
                rows[name] = dict(method=f'training-free: {name}', nfe=nfe, ms_per_image=round(1000 * dt / len(te), 2), **scores(o, te, **kw))
                imgs[name] = o; print(task, name, rows[name], flush=True)
        imgs['clean'] = te
        if not photo: rows['clean'] = dict(method='clean images', fid=round(ev.fid(te, ref), 3), label_acc=round((fe.model(te).argmax(1) == y_te).float().mean().item(), 4))
        save_grid(torch.cat([v[:10] for v in imgs.values()]), OUT/f'{task}.png', nrow=10, scale=2)
        res['rows'][task] = dict(rows=rows, grid_rows=list(imgs))
        f.write_text(json.dumps(res, indent=1))
    (OUT/'results.md').write_text(markdown_table(res))
    print(markdown_table(res))

def residual_trial(epochs:int, task:str='superres4'):
    "The same network trained on the clean image or on what the baseline misses, both kinds, `epochs` epochs each: `residual_trial.json`."
    from fastdiffusion.core import make_generator
    from fastdiffusion.metrics import get_feature_extractor, ImageEvaluator
    from fastdiffusion.restore import get_task, train_restorer
    fe = get_feature_extractor(device='cpu', verbose=False); ev = ImageEvaluator(fe, device='cpu')
    x_tr, x_te, y_te, ref = digits()
    cond, rows = get_task(task).degrade(x_te, make_generator(7)), []
    for kind in ('regression', 'diffusion'):
        for residual in (False, True):
            r = train_restorer(task, x_tr, kind=kind, residual=residual, time_budget=None, epochs=epochs, device='cpu', verbose=False)
            rows.append(dict(task=task, kind=kind, target='residual' if residual else 'image', steps=r.stats['steps'],
                             **scores(r.restore(cond, seed=1), x_te, fe, ev, ref, y_te)))
            print(rows[-1], flush=True)
    OUT.mkdir(parents=True, exist_ok=True); (OUT/'residual_trial.json').write_text(json.dumps(rows, indent=1))

def markdown_table(res:dict) -> str:
    lines = ['| task | method | NFE | PSNR (dB) | SSIM | FID | reads as the right digit | ms/image |', '|---|---|---|---|---|---|---|---|']
    for task, v in res['rows'].items():
        for r in v['rows'].values():
            g = lambda k, fmt: '–' if r.get(k) is None else format(r[k], fmt)
            lines.append(f"| {task} | {r['method']} | {r.get('nfe', '–')} | {g('psnr', '.2f')} | {g('ssim', '.3f')} | {g('fid', '.3g')} | "
                         f"{g('label_acc', '.1%')} | {g('ms_per_image', '.3g')} |")
    m = res['meta']
    lines.append(f"\nRegression and diffusion models: the same network, {m['epochs']} epochs of 4,000 digits (8,000 photo crops for "
                 f"colorize), batch 32; {m['n_eval']} held-out images per task; FID floor (clean held-out digits against other held-out "
                 f"digits) {m['floor_fid']:.3g}; measured {m['date']}.")
    return '\n'.join(lines)

@call_parse
def main(cmd:Param("uncond, tasks or table", str),
         out:Param("folder for the trained models", str)='runs/restore',
         epochs:Param("training epochs of each restorer", int)=8,
         epochs_digits:Param("epochs of the unconditional digit model", int)=25,
         epochs_photos:Param("epochs of the unconditional photo model", int)=12,
         only:Param("comma-separated tasks to (re)do", str)=None,
         which:Param("uncond: digits, photos or both", str)='digits,photos'):
    torch.set_num_threads(2)
    out = Path(out)
    if cmd == 'uncond': uncond(out, epochs_digits, epochs_photos, which)
    elif cmd == 'tasks': tasks(out, epochs, only)
    elif cmd == 'residual': residual_trial(epochs)
    elif cmd == 'table': print(markdown_table(json.loads((OUT/'results.json').read_text())))
    else: raise SystemExit(f"unknown command {cmd!r}")
