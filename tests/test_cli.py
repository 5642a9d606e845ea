"End-to-end tests of the `fd_train` / `fd_sample` console scripts: tiny runs, bad input, and a two-process run."
import os, re, sys, json, subprocess, configparser, tempfile
from pathlib import Path
import numpy as np, pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ['--channels', '16,32', '--n_blocks', '1', '--bs', '8', '--steps', '3', '--quiet']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1', 'PYTHONWARNINGS': 'ignore'}

def script(prog:str, tmp:Path) -> str:
    "The installed console script `prog`, else a runner script that calls `fastdiffusion.cli.<prog>`."
    p = Path(sys.executable).parent/prog
    if p.exists(): return str(p)
    p = tmp/f'{prog}.py'
    p.write_text(f"from fastdiffusion.cli import {prog}\n{prog}()\n")
    return str(p)

def run(prog, *args, tmp, procs:int=1):
    "Run `prog args` in fresh process(es) (`procs` > 1: under torchrun, a MULTI_CPU gloo run); (status, stdout, stderr)."
    launch = [sys.executable] if procs == 1 else [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={procs}']
    r = subprocess.run(launch + [script(prog, tmp)] + [str(a) for a in args], capture_output=True, text=True, env=ENV, timeout=300)
    return r.returncode, r.stdout, r.stderr

@pytest.fixture(scope='module')
def tmp():
    with tempfile.TemporaryDirectory() as d: yield Path(d)

@pytest.fixture(scope='module')
def digits(tmp):
    "A folder of 40 real MNIST digits as PNG files."
    from PIL import Image
    from fastdiffusion.data import mnist5k_arrays
    d = tmp/'digits'; d.mkdir()
    for i, a in enumerate(mnist5k_arrays()[0][::125]): Image.fromarray(a).save(d/f'{i:02d}.png')
    return d

@pytest.fixture(scope='module')
def ckpt(tmp, digits):
    "A tiny model trained by `fd_train` on the folder, in one process."
    rc, o, e = run('fd_train', '--data', digits, '--epochs', 2, '--n_samples', 4, '--out', tmp/'m', *TINY, tmp=tmp)
    assert rc == 0, e
    assert 'wrote' in o
    return tmp/'m'

def test_console_scripts_declared():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    cs = cfg['DEFAULT'].get('console_scripts', '')
    assert 'fd_train=fastdiffusion.cli:fd_train' in cs and 'fd_sample=fastdiffusion.cli:fd_sample' in cs

def test_train_writes_checkpoint(ckpt):
    assert sorted(f.name for f in ckpt.iterdir()) == ['config.json', 'gauss.safetensors', 'model.safetensors', 'samples.png']
    cfg = json.loads((ckpt/'config.json').read_text())
    assert cfg['arch'] == 'FlowDenoiser' and cfg['args']['net']['arch'] == 'PatchUNet'   # flow matching, the default objective (notebook 16)
    assert cfg['module'] == 'fastdiffusion.karras' and cfg['args']['net']['module'] == 'fastdiffusion.unet'
    assert cfg['training']['objective'] == 'flow'
    assert 0.3 < cfg['args']['sigma_data'] < 1 and cfg['image_shape'] == [1, 28, 28]
    assert cfg['sampling']['steps'] == 3 and cfg['stats']['steps'] == 10   # 2 epochs of 5 batches of 8

def test_sample_png_and_npz(ckpt, tmp):
    rc, o, e = run('fd_sample', '--ckpt', ckpt, '--n', 9, '--sampler', 'teleport', '--steps', 2, '--out', tmp/'s.png', tmp=tmp)
    assert rc == 0, e
    assert 'teleport, 2 steps, 2 NFE' in o
    from PIL import Image
    assert Image.open(tmp/'s.png').size == (2*(3*30+2),)*2   # 3x3 grid of 28 px + 2 px padding, pixels doubled
    rc, o, e = run('fd_sample', '--ckpt', ckpt, '--bs', 24, '--seed', 1, '--out', tmp/'s1.npz', tmp=tmp)
    assert rc == 0, e
    a = np.load(tmp/'s1.npz')['images']
    assert a.shape == (64, 1, 28, 28) and a.dtype == np.uint8

def test_default_data_offline(tmp):
    "No --data: offline, MNIST-5k."
    rc, o, e = run('fd_train', '--time_budget', 1, '--n_data', 32, '--n_samples', 0, '--out', tmp/'d', *TINY[:-1], tmp=tmp)
    assert rc == 0, e
    assert 'MNIST-5k' in o and (tmp/'d'/'model.safetensors').exists() and not (tmp/'d'/'samples.png').exists()

def test_error_exit_status(tmp):
    rc, o, e = run('fd_sample', '--ckpt', tmp/'nothing', tmp=tmp)
    assert rc == 1 and e.strip() == f"fd_sample: error: Checkpoint folder not found: '{tmp/'nothing'}'"

def cli_error(f, **kw) -> str:
    "The message of the `SystemExit` that `f(**kw)` raises."
    with pytest.raises(SystemExit) as e: f(**kw)
    assert isinstance(e.value.code, str) and '\n' not in e.value.code
    return e.value.code

def test_train_errors(tmp):
    from fastdiffusion.cli import fd_train
    (tmp/'empty').mkdir(exist_ok=True)
    assert 'Folder not found' in cli_error(fd_train, data=str(tmp/'missing'))
    assert 'No images found in folder' in cli_error(fd_train, data=str(tmp/'empty'))
    assert '--epochs must be > 0' in cli_error(fd_train, epochs=0)
    assert "Unknown sampler 'magic'; known samplers: dpm_2" in cli_error(fd_train, sampler='magic')

def test_sample_errors(ckpt, tmp):
    from fastdiffusion.cli import fd_sample
    assert 'Checkpoint folder not found' in cli_error(fd_sample, ckpt=str(tmp/'nope'))
    assert 'known samplers: dpm_2, dpm_2_ancestral, dpmpp_2m' in cli_error(fd_sample, ckpt=str(ckpt), sampler='magic')
    for n in (0, -3): assert '--n must be > 0' in cli_error(fd_sample, ckpt=str(ckpt), n=n)
    assert 'must end in .png or .npz' in cli_error(fd_sample, ckpt=str(ckpt), out=str(tmp/'x.jpg'))
    bad = tmp/'bad'; bad.mkdir(exist_ok=True)   # weights that do not fit the config
    (bad/'model.safetensors').write_bytes((ckpt/'model.safetensors').read_bytes())
    cfg = json.loads((ckpt/'config.json').read_text()); cfg['args']['net']['args']['nfs'] = [16, 64]
    (bad/'config.json').write_text(json.dumps(cfg))
    assert 'do not match' in cli_error(fd_sample, ckpt=str(bad))
    cfg['arch'] = 'UNet'; (bad/'config.json').write_text(json.dumps(cfg))
    assert "holds a 'UNet' model, not 'Denoiser'" in cli_error(fd_sample, ckpt=str(bad))
    cfg['arch'] = 'Denoiser'; cfg['args']['net']['args']['nfs'] = [16, 32]; (bad/'config.json').write_text(json.dumps(cfg))
    w = (ckpt/'model.safetensors').read_bytes()
    (bad/'model.safetensors').write_bytes(w[:len(w)//3])   # a truncated download
    assert 'is not a readable safetensors file (truncated or corrupt?)' in cli_error(fd_sample, ckpt=str(bad))
    (bad/'config.json').write_text('{"arch": ')
    assert 'is not valid JSON' in cli_error(fd_sample, ckpt=str(bad))
    (bad/'config.json').unlink()
    assert 'No checkpoint config' in cli_error(fd_sample, ckpt=str(bad))
    rc, o, e = run('fd_sample', '--ckpt', bad, tmp=tmp)
    assert rc == 1 and len(e.strip().splitlines()) == 1 and 'No checkpoint config' in e   # one line, no traceback

def test_checkpoint_loads_in_fresh_process(ckpt):
    "A checkpoint written by fd_train loads in a process that imports nothing but the loader: the config says where its classes live."
    code = ("import sys, torch\nfrom fastdiffusion.checkpoint import load_checkpoint\n"
            f"m = load_checkpoint({str(ckpt)!r}, device='cpu')\n"
            "x = torch.randn(2, 1, 28, 28); d = m(x, torch.tensor([0.5, 2.]))\n"
            "print(type(m).__name__, type(m.net).__name__, tuple(d.shape))\n"
            "print(sorted(k for k in sys.modules if k.startswith('fastdiffusion.')))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV, timeout=300, cwd='/')
    assert r.returncode == 0, r.stderr
    first, mods = r.stdout.strip().splitlines()
    assert first == 'FlowDenoiser PatchUNet (2, 1, 28, 28)'   # flow matching, the default
    assert not {'fastdiffusion.train', 'fastdiffusion.learner', 'fastdiffusion.cli', 'fastdiffusion.data'} & set(eval(mods)), mods

@pytest.fixture(scope='module')
def dit_ckpt(tmp, digits):
    "A tiny DiT trained by `fd_train --arch dit` on the folder."
    rc, o, e = run('fd_train', '--data', digits, '--arch', 'dit', '--dim', 32, '--depth', 2, '--heads', 2, '--epochs', 2, '--n_samples', 4,
                   '--out', tmp/'dit', '--bs', 8, '--steps', 3, '--quiet', tmp=tmp)
    assert rc == 0, e
    return tmp/'dit'

def test_dit_train_and_sample(dit_ckpt, tmp):
    "fd_train --arch dit writes a DiT checkpoint that fd_sample, unchanged, samples; the loader needs no prior import of its module."
    cfg = json.loads((dit_ckpt/'config.json').read_text())
    net = cfg['args']['net']
    assert (net['arch'], net['module']) == ('DiT', 'fastdiffusion.transformer')
    assert (net['args']['patch'], net['args']['dim'], net['args']['depth'], net['args']['size']) == (4, 32, 2, 28)
    assert cfg['training']['arch'] == 'dit' and cfg['stats']['steps'] == 10
    rc, o, e = run('fd_sample', '--ckpt', dit_ckpt, '--n', 6, '--out', tmp/'dit.npz', tmp=tmp)
    assert rc == 0, e
    a = np.load(tmp/'dit.npz')['images']
    assert a.shape == (6, 1, 28, 28) and a.dtype == np.uint8
    code = ("import sys, torch\nfrom fastdiffusion.checkpoint import load_checkpoint\n"
            "assert 'fastdiffusion.transformer' not in sys.modules\n"
            f"m = load_checkpoint({str(dit_ckpt)!r}, device='cpu')\n"
            "print(type(m.net).__module__, tuple(m(torch.randn(2, 1, 28, 28), torch.tensor([0.5, 2.])).shape))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV, timeout=300, cwd='/')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == 'fastdiffusion.transformer (2, 1, 28, 28)'

def test_mpunet_train_and_sample(digits, tmp):
    "fd_train --arch mpunet writes an EDM2 magnitude-preserving UNet that fd_sample samples and a fresh process loads."
    rc, o, e = run('fd_train', '--data', digits, '--arch', 'mpunet', '--channels', '16,32', '--epochs', 2, '--n_samples', 4,
                   '--out', tmp/'mp', '--bs', 8, '--steps', 3, '--quiet', tmp=tmp)
    assert rc == 0, e
    cfg = json.loads((tmp/'mp'/'config.json').read_text())
    assert (cfg['args']['net']['arch'], cfg['args']['net']['module']) == ('MPUNet', 'fastdiffusion.training')
    assert cfg['training']['arch'] == 'mpunet' and cfg['args']['net']['args']['nfs'] == [16, 32]
    rc, o, e = run('fd_sample', '--ckpt', tmp/'mp', '--n', 3, '--out', tmp/'mp.npz', tmp=tmp)
    assert rc == 0, e
    assert np.load(tmp/'mp.npz')['images'].shape == (3, 1, 28, 28)
    code = ("import torch\nfrom fastdiffusion.checkpoint import load_checkpoint\n"
            f"m = load_checkpoint({str(tmp/'mp')!r}, device='cpu')\n"
            "print(type(m.net).__name__, tuple(m(torch.randn(2, 1, 28, 28), torch.tensor([0.5, 2.])).shape))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV, timeout=300, cwd='/')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == 'MPUNet (2, 1, 28, 28)'

def test_dit_errors(tmp):
    from fastdiffusion.cli import fd_train
    assert "--arch must be unet, dit or mpunet, got 'vit'" in cli_error(fd_train, arch='vit')
    assert '--dim, --depth set the DiT: add --arch dit' in cli_error(fd_train, dim=64, depth=2)
    assert '--arch dit trains a generative model' in cli_error(fd_train, arch='dit', task='superres2')
    assert 'do not fit DiT patches of 3x3' in cli_error(fd_train, arch='dit', patch=3, n_data=8, quiet=True)

@pytest.fixture(scope='module')
def vae_dir(tmp, digits):
    "A tiny VAE trained by `fd_train_vae` on the folder."
    rc, o, e = run('fd_train_vae', '--data', digits, '--steps', 4, '--time_budget', 0, '--n_samples', 4, '--out', tmp/'vae', '--quiet', tmp=tmp)
    assert rc == 0, e
    assert 'trained a VAE (1, 28, 28) -> (4, 7, 7)' in o and (tmp/'vae'/'recon.png').exists()
    return tmp/'vae'

def test_latent_train_and_sample(vae_dir, digits, tmp):
    "fd_train --vae trains a DiT on the VAE's latents; the checkpoint keeps the VAE, and fd_sample, unchanged, decodes."
    rc, o, e = run('fd_train', '--data', digits, '--vae', vae_dir, '--arch', 'dit', '--dim', 32, '--depth', 2, '--heads', 2, '--epochs', 1,
                   '--n_samples', 4, '--out', tmp/'lat', '--bs', 8, '--steps', 3, '--quiet', tmp=tmp)
    assert rc == 0, e
    cfg = json.loads((tmp/'lat'/'config.json').read_text())
    assert cfg['image_shape'] == [4, 7, 7] and cfg['latent']['image_shape'] == [1, 28, 28] and cfg['args']['net']['args']['patch'] == 1
    assert (tmp/'lat'/'vae'/'model.safetensors').exists() and (tmp/'lat'/'samples.png').exists()
    rc, o, e = run('fd_sample', '--ckpt', tmp/'lat', '--n', 5, '--out', tmp/'lat.npz', tmp=tmp)
    assert rc == 0, e
    a = np.load(tmp/'lat.npz')['images']
    assert a.shape == (5, 1, 28, 28) and a.dtype == np.uint8

def test_latent_unet(vae_dir, digits, tmp):
    "fd_train --vae with the default --arch unet: a one-level UNet on 1x1 blocks of the latents (LATENT_UNET); the VAE came with notebook 14's GAN recipe."
    vcfg = json.loads((vae_dir/'config.json').read_text())
    assert vcfg['losses'] == ['mse', 'kl', 'gan'] and vcfg['training']['kl_weight'] == 5e-4 and vcfg['training']['final_lr'] == 0.02
    assert vcfg['args']['nfs'] == [24, 48, 96] and vcfg['training']['disc_start'] == 0.5
    rc, o, e = run('fd_train', '--data', digits, '--vae', vae_dir, '--epochs', 1, '--n_samples', 4, '--out', tmp/'lat_unet', '--bs', 8, '--steps', 3, '--quiet', tmp=tmp)
    assert rc == 0, e
    cfg = json.loads((tmp/'lat_unet'/'config.json').read_text())
    a = cfg['args']['net']['args']
    assert cfg['image_shape'] == [4, 7, 7] and a['patch'] == 1 and a['nfs'] == [32] and a['n_blocks'] == 2, a

def test_latent_errors(vae_dir, ckpt, tmp):
    from fastdiffusion.cli import fd_train, fd_train_vae, fd_sample
    assert 'this VAE takes images of shape (1, 28, 28), got (1, 32, 32)' in cli_error(fd_train, vae=str(vae_dir), arch='dit', size=32, n_data=8, quiet=True)
    assert 'not a VAE' in cli_error(fd_train, vae=str(ckpt), arch='dit', n_data=8, quiet=True)
    assert "for a VAE's latents, one level as `LATENT_UNET`, or arch='dit'" in cli_error(fd_train, vae=str(vae_dir), channels='32,64', n_data=8, quiet=True)
    assert '--vae trains a generative model on latents' in cli_error(fd_train, vae=str(vae_dir), task='superres4')
    assert '--steps must be > 0' in cli_error(fd_train_vae, steps=0)
    assert '--kl_weight must be >= 0' in cli_error(fd_train_vae, kl_weight=-1.)
    assert '--disc_start must be >= 0 and --final_lr in (0, 1]' in cli_error(fd_train_vae, final_lr=0.)
    assert '--channels takes three sizes > 0' in cli_error(fd_train_vae, channels='16,32')
    assert 'multiple of 4' in cli_error(fd_train_vae, size=30, steps=1, n_data=8, quiet=True)
    assert 'is a model of a VAE' in cli_error(fd_sample, ckpt=str(tmp/'lat'), guide='classifier', guide_ckpt=str(ckpt), label='3')

def test_bad_arguments_before_heavy_imports():
    "Arguments wrong on their face are refused before torch, numpy, datasets or accelerate are imported."
    code = ("import sys\nfrom fastdiffusion.cli import fd_sample, fd_train\n"
            "for f, kw in [(fd_sample, dict(n=0)), (fd_sample, dict(steps=-1)), (fd_sample, dict(out='x.gif')), (fd_train, dict(time_budget=-1)), (fd_train, dict(channels='x'))]:\n"
            "    try: f(**kw)\n    except SystemExit as e: print(e.code)\n"
            "print(sorted(m for m in ('torch', 'numpy', 'datasets', 'accelerate') if m in sys.modules))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV, timeout=120)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and lines[-1] == '[]' and len(lines) == 6, r.stdout + r.stderr
    assert all(l.startswith(('fd_sample: error:', 'fd_train: error:')) for l in lines[:-1])

def test_two_processes(digits, ckpt, tmp):
    "torchrun: each process trains on half of every epoch's batches; only the main process writes files."
    rc, o, e = run('fd_train', '--data', digits, '--epochs', 2, '--n_samples', 4, '--out', tmp/'m2', *TINY, tmp=tmp, procs=2)
    assert rc == 0, e
    lines = re.findall(r'process (\d)/2: trained on (\d+) images in (\d+) batches \(first batch: mean pixel (-?[\d.]+)\)', o)
    assert sorted(l[0] for l in lines) == ['0', '1']
    assert all(l[1:3] == ('48', '6') for l in lines)   # 40 images, bs 8: 5 batches an epoch, 3 per process (one padded), 2 epochs
    assert lines[0][3] != lines[1][3]                   # different data in each process
    assert o.count('wrote ') == 1 and '2 processes' in o
    assert sorted(f.name for f in (tmp/'m2').iterdir()) == ['config.json', 'gauss.safetensors', 'model.safetensors', 'samples.png']
    assert json.loads((tmp/'m2'/'config.json').read_text())['stats']['processes'] == 2
    # sampling in 2 processes gives the images of 1 process, gathered in order, also for a number of images that
    # does not split evenly (torchrun takes `--n` for an abbreviation of its own options unless `--` comes first)
    assert run('fd_sample', '--ckpt', ckpt, '--n', 9, '--bs', 4, '--seed', 1, '--out', tmp/'s9.npz', tmp=tmp)[0] == 0
    rc, o, e = run('fd_sample', '--', '--ckpt', ckpt, '--n', 9, '--bs', 4, '--seed', 1, '--out', tmp/'s9x2.npz', tmp=tmp, procs=2)
    assert rc == 0, e
    assert o.count('wrote 9 images') == 1 and '2 processes' in o
    a, b = np.load(tmp/'s9.npz')['images'].astype(int), np.load(tmp/'s9x2.npz')['images'].astype(int)
    assert a.shape == b.shape == (9, 1, 28, 28) and np.abs(a - b).max() <= 1 and (a == b).mean() > 0.99

@pytest.fixture(scope='module')
def classes(tmp):
    "A folder of 40 real MNIST digits in one sub-folder per class (the labels come from the folder names)."
    from PIL import Image
    from fastdiffusion.data import mnist5k_arrays
    X, y = mnist5k_arrays()
    for i in range(0, 5000, 125):
        d = tmp/'classes'/f'digit{y[i]}'; d.mkdir(parents=True, exist_ok=True); Image.fromarray(X[i]).save(d/f'{i}.png')
    return tmp/'classes'

@pytest.fixture(scope='module')
def cond_ckpt(tmp, classes):
    "A tiny class-conditional model trained by `fd_train --conditional`."
    rc, o, e = run('fd_train', '--data', classes, '--epochs', 2, '--n_samples', 0, '--conditional', '--out', tmp/'mc', *TINY, tmp=tmp)
    assert rc == 0, e
    return tmp/'mc'

def test_conditional_checkpoint(cond_ckpt):
    cfg = json.loads((cond_ckpt/'config.json').read_text())
    assert cfg['conditioning'] == dict(n_classes=10, class_names=[f'digit{i}' for i in range(10)], p_uncond=0.1)
    assert cfg['args']['net']['args']['n_classes'] == 10

def test_sample_labels_and_guidance(cond_ckpt, tmp):
    rc, o, e = run('fd_sample', '--ckpt', cond_ckpt, '--label', 3, '--guidance', 2, '--n', 16, '--out', tmp/'c.npz', tmp=tmp)
    assert rc == 0, e
    assert 'of class digit3' in o and 'cfg guidance w=2' in o
    d = np.load(tmp/'c.npz')
    assert d['images'].shape == (16, 1, 28, 28) and d['images'].dtype == np.uint8 and (d['labels'] == 3).all()
    rc, o, e = run('fd_sample', '--ckpt', cond_ckpt, '--label', 'digit0,digit7', '--n', 5, '--out', tmp/'c2.npz', tmp=tmp)
    assert rc == 0, e
    assert np.load(tmp/'c2.npz')['labels'].tolist() == [0, 7, 0, 7, 0]
    # guidance changes the images; autoguidance by the model itself is no guidance at all (D0 = D1)
    outs = {}
    for name, extra in [('plain', []), ('cfg', ['--guidance', 3]), ('interval', ['--guide', 'interval', '--guidance', 3]),
                        ('self', ['--guide', 'auto', '--guide_ckpt', cond_ckpt, '--guidance', 3])]:
        rc, o, e = run('fd_sample', '--ckpt', cond_ckpt, '--label', 5, '--n', 4, '--out', tmp/f'{name}.npz', *extra, tmp=tmp)
        assert rc == 0, e
        outs[name] = np.load(tmp/f'{name}.npz')['images'].astype(int)
    assert np.abs(outs['cfg'] - outs['plain']).max() > 0 and np.abs(outs['interval'] - outs['cfg']).max() > 0
    assert np.abs(outs['self'] - outs['plain']).max() <= 1

@pytest.mark.parametrize('args,msg', [
    (['--label', 12], "unknown label '12': this model's classes are digit0"),
    (['--label', 'cat'], "unknown label 'cat'"),
    (['--guidance', 2], '--guide cfg needs --label'),
    (['--guide', 'auto'], '--guide auto needs --guide_ckpt'),
    (['--guide', 'auto', '--guide_ckpt', 'nope'], "Checkpoint folder not found: 'nope'"),
    (['--guide', 'best'], '--guide must be one of cfg, interval, auto'),
    (['--guide', 'interval', '--interval', '3,1', '--label', 1, '--guidance', 2], "--interval must be 'sigma_lo,sigma_hi'"),
    (['--guidance', -1], '--guidance must be >= 0')])
def test_sample_guidance_errors(cond_ckpt, tmp, args, msg):
    rc, o, e = run('fd_sample', '--ckpt', cond_ckpt, '--n', 2, '--out', tmp/'e.npz', *args, tmp=tmp)
    assert rc == 1 and msg in e and 'Traceback' not in e, e

def test_unconditional_refuses_labels(ckpt, digits, tmp):
    rc, o, e = run('fd_sample', '--ckpt', ckpt, '--label', 3, '--n', 2, '--out', tmp/'e.npz', tmp=tmp)
    assert rc == 1 and 'was trained without labels' in e and 'fd_train --conditional' in e, e
    rc, o, e = run('fd_sample', '--ckpt', ckpt, '--guidance', 2, '--label', 3, '--n', 2, '--out', tmp/'e.npz', tmp=tmp)
    assert rc == 1 and 'trained without labels' in e, e
    rc, o, e = run('fd_train', '--data', digits, '--epochs', 1, '--conditional', '--out', tmp/'x', *TINY, tmp=tmp)
    assert rc == 1 and 'conditional=True needs labelled data' in e and 'Traceback' not in e, e

@pytest.fixture(scope='module')
def clf_ckpt(tmp, classes):
    "A noise-aware classifier trained for a few seconds by `fd_train --classifier`."
    rc, o, e = run('fd_train', '--data', classes, '--classifier', '--time_budget', 3, '--out', tmp/'clf', '--quiet', tmp=tmp)
    assert rc == 0, e
    return tmp/'clf'

def test_classifier_checkpoint(clf_ckpt):
    cfg = json.loads((clf_ckpt/'config.json').read_text())
    assert cfg['arch'] == 'NoisyClassifier' and cfg['image_shape'] == [1, 28, 28]
    assert cfg['conditioning']['class_names'] == [f'digit{i}' for i in range(10)] and cfg['stats']['steps'] > 0

def test_sample_classifier_guidance(ckpt, clf_ckpt, tmp):
    "An unconditional model steered by the classifier: labels in the npz, and the scale changes the images."
    outs = {}
    for scale in (0, 8):
        rc, o, e = run('fd_sample', '--ckpt', ckpt, '--guide', 'classifier', '--guide_ckpt', clf_ckpt, '--label', 'digit3,7',
                       '--guidance', scale, '--n', 4, '--out', tmp/f'g{scale}.npz', tmp=tmp)
        assert rc == 0, e
        assert 'of classes digit3, digit7' in o and f'classifier guidance scale {scale}' in o, o
        d = np.load(tmp/f'g{scale}.npz')
        assert d['images'].shape == (4, 1, 28, 28) and d['labels'].tolist() == [3, 7, 3, 7]
        outs[scale] = d['images'].astype(int)
    rc, o, e = run('fd_sample', '--ckpt', ckpt, '--n', 4, '--out', tmp/'plain.npz', tmp=tmp)
    assert rc == 0, e
    assert np.abs(outs[0] - np.load(tmp/'plain.npz')['images'].astype(int)).max() <= 1   # scale 0: the model alone
    assert np.abs(outs[8] - outs[0]).max() > 0

@pytest.mark.parametrize('args,msg', [
    (['--label', 3], '--guide classifier needs --guide_ckpt'),
    (['--guide_ckpt', 'CLF'], '--guide classifier needs --label'),
    (['--guide_ckpt', 'CLF', '--label', 'cat'], "unknown label 'cat': this model's classes are digit0"),
    (['--guide_ckpt', 'MODEL', '--label', 3], "holds a 'FlowDenoiser' model, not a noise-aware classifier")])
def test_classifier_guidance_errors(ckpt, clf_ckpt, tmp, args, msg):
    args = [{'CLF': clf_ckpt, 'MODEL': ckpt}.get(a, a) for a in args]
    rc, o, e = run('fd_sample', '--ckpt', ckpt, '--guide', 'classifier', '--n', 2, '--out', tmp/'e.npz', *args, tmp=tmp)
    assert rc == 1 and msg in e and 'Traceback' not in e, e

def test_classifier_needs_labels(digits, tmp):
    rc, o, e = run('fd_train', '--data', digits, '--classifier', '--time_budget', 1, '--out', tmp/'x', '--quiet', tmp=tmp)
    assert rc == 1 and 'needs labelled data' in e and 'Traceback' not in e, e

# ---- restorers (notebook 11): fd_train --task, fd_restore
@pytest.fixture(scope='module')
def sr_ckpt(tmp, digits):
    "A tiny super-resolution x4 restorer trained by `fd_train --task superres4`."
    rc, o, e = run('fd_train', '--data', digits, '--task', 'superres4', '--epochs', 1, '--n_samples', 4, '--out', tmp/'sr4', *TINY, tmp=tmp)
    assert rc == 0, e
    assert 'trained a restorer for superres4 (diffusion' in o
    return tmp/'sr4'

def test_restorer_checkpoint(sr_ckpt):
    cfg = json.loads((sr_ckpt/'config.json').read_text())
    assert cfg['task'] == 'superres4' and cfg['kind'] == 'diffusion' and cfg['image_shape'] == [1, 28, 28] and cfg['cond_shape'] == [1, 28, 28]
    assert (sr_ckpt/'samples.png').exists()

def test_restore_degrade_round_trip(sr_ckpt, digits, tmp):
    "--degrade writes the restored images and the 7x7 degraded inputs under the same names; those restore again without --degrade."
    from PIL import Image
    rc, o, e = run('fd_restore', '--ckpt', sr_ckpt, '--input', digits, '--out', tmp/'r1', '--degrade', '--steps', 2, tmp=tmp)
    assert rc == 0, e
    assert 'restored 40 images (superres4, diffusion model, 2 steps of dpmpp_2m)' in o
    names = sorted(p.name for p in digits.iterdir())
    assert sorted(p.name for p in (tmp/'r1').glob('*.png')) == names and sorted(p.name for p in (tmp/'r1'/'degraded').iterdir()) == names
    assert Image.open(tmp/'r1'/names[0]).size == (28, 28) and Image.open(tmp/'r1'/'degraded'/names[0]).size == (7, 7)
    rc, o, e = run('fd_restore', '--ckpt', sr_ckpt, '--input', tmp/'r1'/'degraded', '--out', tmp/'r2', '--steps', 2, tmp=tmp)
    assert rc == 0, e
    a, b = (np.array(Image.open(tmp/d/names[3])).astype(int) for d in ('r1', 'r2'))
    assert np.abs(a - b).mean() < 3    # the same inputs up to 8-bit rounding of the small image, the same seed: nearly the same output

def test_restore_inpaint_keeps_known_pixels(classes, tmp):
    from PIL import Image
    rc, o, e = run('fd_train', '--data', classes, '--task', 'inpaint', '--regression', '--epochs', 1, '--n_samples', 0, '--out', tmp/'inp', *TINY, tmp=tmp)
    assert rc == 0, e
    rc, o, e = run('fd_restore', '--ckpt', tmp/'inp', '--input', classes/'digit3', '--out', tmp/'ri', '--degrade', tmp=tmp)
    assert rc == 0 and 'inpaint, regression model, one call' in o, e
    for p in (tmp/'ri'/'degraded').iterdir():
        d, r = np.array(Image.open(p)), np.array(Image.open(tmp/'ri'/p.name))
        known = d[..., 1] == 255
        assert d.shape == (28, 28, 2) and 0 < known.mean() < 1 and (r[known] == d[..., 0][known]).all()
    rc, o, e = run('fd_restore', '--ckpt', tmp/'inp', '--input', classes, '--out', tmp/'x', tmp=tmp)
    assert rc == 1 and 'has no transparency' in e, e

@pytest.mark.parametrize('args,msg', [
    (['--input', 'nope'], "--input 'nope' does not exist"),
    (['--input', 'EMPTY'], "no images in"),
    (['--input', 'BIG'], "is 32x32; this model restores 28x28 images (or 7x7 low-resolution inputs)"),
    (['--input', 'RGB'], "is a colour image (RGB); this model restores grey images"),
    (['--ckpt', 'GEN', '--input', 'DIGITS'], "holds a generative model (sample it with fd_sample), not a restorer"),
    ([], "--input is required")])
def test_restore_errors(sr_ckpt, ckpt, digits, tmp, args, msg):
    from PIL import Image
    (tmp/'empty').mkdir(exist_ok=True)
    Image.new('L', (32, 32)).save(tmp/'big.png'); Image.new('RGB', (28, 28)).save(tmp/'rgb.png')
    sub = {'EMPTY': tmp/'empty', 'BIG': tmp/'big.png', 'RGB': tmp/'rgb.png', 'GEN': ckpt, 'DIGITS': digits}
    args = [sub.get(a, a) for a in args]
    if '--ckpt' not in args: args = ['--ckpt', sr_ckpt, *args]
    rc, o, e = run('fd_restore', *args, '--out', tmp/'e', tmp=tmp)
    assert rc == 1 and msg in e and 'Traceback' not in e, e

def test_restorer_refused_by_fd_sample_and_bad_task(sr_ckpt, digits, tmp):
    rc, o, e = run('fd_sample', '--ckpt', sr_ckpt, '--n', 2, '--out', tmp/'e.png', tmp=tmp)
    assert rc == 1 and 'is a restorer (superres4), not a generative model: restore images with fd_restore' in e, e
    rc, o, e = run('fd_train', '--data', digits, '--task', 'upscale', '--out', tmp/'e', *TINY, tmp=tmp)
    assert rc == 1 and "unknown task 'upscale': the tasks are superres2, superres4, colorize" in e, e
    rc, o, e = run('fd_train', '--data', digits, '--task', 'colorize', '--epochs', 1, '--out', tmp/'e', *TINY, tmp=tmp)
    assert rc == 1 and 'colourisation needs colour images (3 channels), got 1' in e, e
