"Notebook 16's recipe options from a plain process: each trains, samples, saves and loads; bad settings fail in one line."
import subprocess, sys, tempfile
import pytest, torch
from fastdiffusion.data import mnist5k_arrays
from fastdiffusion.train import train_diffusion, Trained
from fastdiffusion.training import FlowDenoiser

def _data(n=200):
    x, y = mnist5k_arrays(); i = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n]
    return torch.from_numpy(x[i.numpy(), None]), torch.from_numpy(y[i.numpy()])

@pytest.mark.parametrize('kw', [dict(), dict(objective='flow', opt='adamw'), dict(augment=0.5, opt='lion', lr=2e-4), dict(sched='isqrt', ema_length=None)])
def test_options_train_save_load(kw, tmp_path):
    t = train_diffusion(_data(), max_steps=3, verbose=False, device='cpu', **kw)
    x = t.sample(4, seed=1)
    assert x.shape == (4, 1, 28, 28) and x.isfinite().all()
    assert isinstance(t.model, FlowDenoiser) == (kw.get('objective') == 'flow')
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
                                    (dict(augment=0.1, arch='dit'), "augment needs arch='unet'"), (dict(ema_length=0.5), "sigma_rel must be in")])
def test_option_errors(kw, msg):
    with pytest.raises(ValueError, match=msg): train_diffusion(_data(), max_steps=1, verbose=False, device='cpu', **kw)

def test_cli_contradiction():
    r = subprocess.run([sys.executable, '-m', 'fastdiffusion.cli', '--help'], capture_output=True, text=True)
    r = subprocess.run(['fd_train', '--conditional', '--unconditional', '--out', tempfile.mkdtemp()], capture_output=True, text=True)
    assert r.returncode != 0 and 'contradict' in r.stderr
