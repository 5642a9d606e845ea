"Tests of `fastdiffusion.data` from plain Python processes: MNIST-5k, failing fast offline, clear errors, no nbdev needed."
import os, subprocess, sys, textwrap
import numpy as np, pytest
from PIL import Image

FASHION = 'zalando-datasets/fashion_mnist'
OFFLINE_CHOICES = "Offline choices: load_images('mnist5k')"

def start_py(code:str, env:dict|None=None, drop=()) -> subprocess.Popen:
    "Start `code` with `python -c` in a fresh process (env = ours + `env` - `drop`)."
    e = {k:v for k,v in os.environ.items() if k not in drop}
    e.update({'OMP_NUM_THREADS': '1', **(env or {})})
    return subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)

_outs = {}
def output(p:subprocess.Popen, timeout:float=120) -> list[str]:
    "The stdout lines of the finished process `p` (which must succeed)."
    if p not in _outs: _outs[p] = p.communicate(timeout=timeout)
    out, err = _outs[p]
    assert p.returncode == 0, f"exit {p.returncode}\n{out}\n{err}"
    return out.splitlines()

def _line(out, tag): return next(l for l in out if l.startswith(tag))

# Two plain processes start together (each spends most of its time importing torch and datasets): one with
# the network as it is here (and nbdev unimportable), which loads MNIST-5k and then tries the hub; one with
# HF_HUB_OFFLINE=1, which only tries the hub.

PLAIN = """
    import sys, importlib.abc
    class NoNbdev(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('nbdev', 'execnb'): raise ImportError(f'{name} is blocked in this test')
    sys.meta_path.insert(0, NoNbdev())
    from fastdiffusion.data import load_images, get_dls
    ds = load_images('mnist5k')
    im = ds[0]['image']
    print('RESULT', len(ds), im.size, im.mode, sorted(set(ds['label'])))
    xb, yb = next(iter(get_dls(ds, bs=16, pad=True).train))
    print('BATCH', tuple(xb.shape), xb.dtype, float(xb.min()), float(xb.max()), yb.dtype)
    print('NBDEV', 'nbdev' in sys.modules, 'execnb' in sys.modules)
"""

OFFLINE = f"""
    import time
    from fastdiffusion.data import load_images, hub_available
    if hub_available(): print('HUB ANSWERS'); raise SystemExit
    t = time.time()
    try: load_images('{FASHION}'); print('LOADED')
    except ConnectionError as e: print(f'SECONDS {{time.time()-t:.3f}}'); print('ERROR', e)
"""
NET_VARS = ('HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE', 'HF_ENDPOINT')

@pytest.fixture(scope='module')
def procs(tmp_path_factory):
    hf = str(tmp_path_factory.mktemp('hf'))   # an empty Hugging Face cache: nothing to load from
    plain = start_py(textwrap.dedent(PLAIN) + textwrap.dedent(OFFLINE), env={'HF_HOME': hf}, drop=NET_VARS)
    return {'plain': plain, 'as_is': plain,
            'switch': start_py(OFFLINE, env={'HF_HUB_OFFLINE': '1', 'HF_HOME': hf}, drop=NET_VARS)}

# --- MNIST-5k in a plain process, with nbdev (and execnb) made unimportable ---------------------------------

def test_mnist5k_5000_images_28x28(procs):
    out = output(procs['plain'])
    assert _line(out, 'RESULT') == "RESULT 5000 (28, 28) L [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"
    assert _line(out, 'Data: MNIST-5k').endswith("5,000 images, 28x28 L, 10 classes")  # says which data it used
    assert _line(out, 'BATCH') == "BATCH (16, 1, 32, 32) torch.float32 -1.0 1.0 torch.int64"

def test_import_without_nbdev(procs):
    assert _line(output(procs['plain']), 'NBDEV') == "NBDEV False False"

# --- a hub name without the hub: fails in < 5 s, naming the offline choices --------------------------------

def check_offline(out:list[str]):
    assert 'LOADED' not in out, out
    assert float(_line(out, 'SECONDS').split()[1]) < 5
    err = _line(out, 'ERROR')
    assert FASHION in err and OFFLINE_CHOICES in err and 'local folder' in err, err

def test_offline_switch_fails_fast(procs):
    "HF_HUB_OFFLINE=1 set before Python starts: `datasets` is in offline mode and answers fast; the error names the choices."
    check_offline(output(procs['switch']))

def test_offline_as_it_is_here(procs):
    "The network as it is on this machine, no switches set: where the hub does not answer, fail fast."
    out = output(procs['as_is'])
    if 'HUB ANSWERS' in out: pytest.skip("the hub answers here; this test is for machines without it")
    check_offline(out)

@pytest.fixture
def endpoint(monkeypatch):
    "Point the hub at a local address (no proxy), with no offline switches set."
    for k in NET_VARS: monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv('no_proxy', '*'); monkeypatch.setenv('NO_PROXY', '*')
    return lambda url: monkeypatch.setenv('HF_ENDPOINT', url)

def test_silent_hub_fails_fast(endpoint):
    "A hub that accepts the connection but never answers: the check gives up after `timeout` seconds."
    import socket, time
    from fastdiffusion.data import load_images
    with socket.socket() as silent:
        silent.bind(('127.0.0.1', 0)); silent.listen()
        endpoint(f'http://127.0.0.1:{silent.getsockname()[1]}')
        t = time.time()
        with pytest.raises(ConnectionError, match=r"no answer from http://127\.0\.0\.1:\d+ within 2s.*Offline choices"):
            load_images(FASHION)
        assert time.time() - t < 5

def free_port() -> int:
    "A local port that nothing listens on (bound, then released)."
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def test_refused_and_switches(endpoint, monkeypatch):
    from fastdiffusion.data import hub_offline_reason
    endpoint(f'http://127.0.0.1:{free_port()}')
    assert hub_offline_reason().startswith('no answer from http://127.0.0.1:')
    monkeypatch.setenv('HF_DATASETS_OFFLINE', '1')
    assert hub_offline_reason() == 'HF_DATASETS_OFFLINE=1 is set'

# --- clear errors --------------------------------------------------------------------------------------------

def test_unknown_name():
    from fastdiffusion.data import load_images
    with pytest.raises(ValueError, match="Unknown source 'no such data!'"): load_images('no such data!')
    with pytest.raises(ValueError, match="only the split 'train'"): load_images('mnist5k', split='test')

def test_folders(tmp_path, capsys):
    from fastdiffusion.data import load_images, images_tensor
    with pytest.raises(FileNotFoundError, match='Folder not found'): load_images(tmp_path/'missing')
    with pytest.raises(FileNotFoundError, match='Folder not found'): load_images(str(tmp_path/'missing'))
    empty = tmp_path/'empty'; (empty/'sub').mkdir(parents=True); (empty/'notes.txt').write_text('not an image')
    with pytest.raises(ValueError, match='No images found'): load_images(empty)
    bad = tmp_path/'bad'; bad.mkdir()
    Image.fromarray(np.zeros((8,8), np.uint8)).save(bad/'ok.png'); (bad/'broken.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match="unreadable, e.g. 'broken.png'"): load_images(bad)
    good = tmp_path/'good'
    for c in 'ab':
        (good/c).mkdir(parents=True)
        for i in range(3): Image.fromarray(np.full((8,8,3), 40*i, np.uint8)).save(good/c/f'{i}.png')
    ds = load_images(good, verbose=False)
    assert len(ds) == 6 and ds.features['label'].names == ['a', 'b']
    assert images_tensor(ds).shape == (6, 3, 8, 8)
    Image.fromarray(np.zeros((10,12), np.uint8)).save(good/'a'/'small.png')
    ds = load_images(good)
    assert "2 image sizes, 8x8 to 12x10" in capsys.readouterr().out
    with pytest.raises(ValueError, match='pass `size=`'): images_tensor(ds)
    assert images_tensor(ds, size=8).shape == (7, 3, 8, 8)   # one colour image: all become RGB
