"Notebook 16's recipe options from a plain process: each trains, samples, saves and loads; bad settings fail in one line."
import subprocess, sys, tempfile
import pytest, torch
from fastdiffusion.data import mnist5k_arrays
from fastdiffusion.train import train_diffusion, Trained
from fastdiffusion.karras import FlowDenoiser

def _data(n=200):
    x, y = mnist5k_arrays(); i = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]
    return torch.from_numpy(x[i.numpy(), None]), torch.from_numpy(y[i.numpy()])

@pytest.mark.parametrize('kw', [dict(), dict(objective='edm', opt='adamw'), dict(augment=0.5, opt='lion', lr=2e-4), dict(sched='isqrt', ema_length=None, loss_weight='fixed')])
def test_options_train_save_load(kw, tmp_path):
    t = train_diffusion(_data(), max_steps=3, verbose=False, device='cpu', **kw)
    x = t.sample(4, seed=1)
    assert x.shape == (4, 1, 28, 28) and x.isfinite().all()
    assert isinstance(t.model, FlowDenoiser) == (kw.get('objective', 'flow') == 'flow')   # flow matching is the default (notebook 16)
    t.save(tmp_path/'m', n_samples=0)
    back = Trained.load(tmp_path/'m', device='cpu')
    assert type(back.model) is type(t.model)
    torch.testing.assert_close(back.sample(4, seed=1), x)

def test_labels_auto():
    x, y = _data()
    t = train_diffusion((x, y), max_steps=2, verbose=False, device='cpu')
    assert t.n_classes == 10 and t.config['sampling']['labels'] == 'balanced'
    u = train_diffusion(x, max_steps=2, verbose=False, device='cpu')   # no labels: unconditional
    assert u.n_classes is None and 'labels' not in u.config['sampling']
    assert train_diffusion((x, y), max_steps=2, verbose=False, device='cpu', conditional=False).n_classes is None

@pytest.mark.parametrize('kw,msg', [(dict(opt='sgd'), "opt must be one of"), (dict(objective='v'), "objective must be one of"),
                                    (dict(sched='step'), "sched must be one of"), (dict(conditional='yes'), "conditional must be"),
                                    (dict(augment=0.1, arch='dit'), "augment needs arch='unet'"), (dict(ema_length=0.5), "sigma_rel must be in"),
                                    (dict(steps=0), 'steps must be > 0'), (dict(guidance=-1), 'guidance must be >= 0')])
def test_option_errors(kw, msg):
    with pytest.raises(ValueError, match=msg): train_diffusion(_data(), max_steps=1, verbose=False, device='cpu', **kw)

def test_cli_contradiction():
    r = subprocess.run([sys.executable, '-m', 'fastdiffusion.cli', '--help'], capture_output=True, text=True)
    r = subprocess.run(['fd_train', '--conditional', '--unconditional', '--out', tempfile.mkdtemp()], capture_output=True, text=True)
    assert r.returncode != 0 and 'contradict' in r.stderr

def test_labelled_recipe_is_guided_at_10_calls():
    x, y = _data()
    t = train_diffusion((x, y), max_steps=3, verbose=False, device='cpu')
    s = t.config['sampling']
    assert s['steps'] == 8 and s['guidance'] == dict(w=1.3, interval=[0.28, 5.42])
    assert t.nfe() == 10 and t.nfe(guidance=1) == 8 and t.nfe(steps=10) == 13   # 2 of 8 (3 of 10) noise levels in the interval
    a, b = t.sample(10, seed=1), t.sample(10, seed=1, guidance=1)
    assert a.shape == b.shape == (10, 1, 28, 28) and (a - b).abs().max() > 0
    u = train_diffusion((x, y), max_steps=3, verbose=False, device='cpu', guidance=1)
    assert u.config['sampling']['steps'] == 10 and 'guidance' not in u.config['sampling'] and u.nfe() == 10
    n = train_diffusion(x, max_steps=2, verbose=False, device='cpu')   # no labels: nothing to guide
    assert n.config['sampling']['steps'] == 10 and n.nfe() == 10
    with pytest.raises(ValueError, match='trained without labels'): n.sample(2, guidance=2)
    with pytest.raises(ValueError, match='guidance must be >= 0'): train_diffusion((x, y), max_steps=1, verbose=False, device='cpu', guidance=-1)

def test_learned_loss_weight():
    from fastdiffusion.training import LossWeight
    t = train_diffusion(_data(), max_steps=20, verbose=False, device='cpu', loss_weight='learned')
    lw = t.learn.loss_func
    assert isinstance(lw, LossWeight) and lw.linear.weight.abs().max() > 0   # the head was trained with the model
    assert t.config['training']['loss_weight'] == 'learned' and t.sample(2, seed=0).isfinite().all()
    with pytest.raises(ValueError, match='loss_weight must be one of'): train_diffusion(_data(), max_steps=1, verbose=False, device='cpu', loss_weight='x')

def _run(*args): return subprocess.run([str(a) for a in args], capture_output=True, text=True)

def test_cli_guided_recipe(tmp_path):
    from PIL import Image
    X, y = mnist5k_arrays()
    for i in range(0, 5000, 125):
        d = tmp_path/'classes'/f'digit{y[i]}'; d.mkdir(parents=True, exist_ok=True); Image.fromarray(X[i]).save(d/f'{i}.png')
    tiny = ['--channels', '16,32', '--bs', '8', '--epochs', '1', '--n_samples', '0', '--quiet']
    r = _run('fd_train', '--data', tmp_path/'classes', '--out', tmp_path/'m', *tiny)
    assert r.returncode == 0, r.stderr
    r = _run('fd_sample', '--ckpt', tmp_path/'m', '--n', 10, '--out', tmp_path/'a.npz')
    assert r.returncode == 0 and "8 steps, 10 NFE, the recipe's guidance w=1.3" in r.stdout, r.stdout + r.stderr
    r = _run('fd_sample', '--ckpt', tmp_path/'m', '--n', 10, '--guidance', 1, '--out', tmp_path/'b.npz')
    assert r.returncode == 0 and '8 steps, 8 NFE, 1 process' in r.stdout, r.stdout + r.stderr
    import numpy as np
    assert (np.load(tmp_path/'a.npz')['images'] != np.load(tmp_path/'b.npz')['images']).any()
    r = _run('fd_train', '--guidance', -1, '--out', tmp_path/'x')
    assert r.returncode != 0 and '--guidance must be >= 0' in r.stderr
