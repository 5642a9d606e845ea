"Multi-process training with `fastdiffusion.learner`: two CPU processes under `torchrun` (MULTI_CPU, gloo)."
import importlib.util, json, os, subprocess, sys, textwrap
import pytest

SCRIPT = textwrap.dedent('''
    import json, sys, torch, torch.nn as nn, torch.nn.functional as F
    from pathlib import Path
    from types import SimpleNamespace
    from torch.utils.data import DataLoader, TensorDataset
    import fastdiffusion.checkpoint as C
    from fastdiffusion.learner import *
    from fastdiffusion.checkpoint import register_arch, save_checkpoint, load_checkpoint

    out = Path(sys.argv[1])
    writes = []
    _save = C.save_model
    def counting_save(model, fname, **kw): writes.append(str(fname)); return _save(model, fname, **kw)
    C.save_model = counting_save                     # count the checkpoint files each process writes

    @register_arch
    class Lin(nn.Module):
        def __init__(self, n=2): super().__init__(); self.config = dict(n=n); self.lin = nn.Linear(n, 1)
        def forward(self, x): return self.lin(x)

    class Seen(Callback):
        "The sample indices (3rd item of each batch) this process trains and validates on."
        def before_fit(self, learn): self.train, self.valid = [], []
        def after_pred(self, learn): (self.train if learn.training else self.valid).extend(learn.yb[1].tolist())

    def loss_func(preds, y, idx): return F.mse_loss(preds, y)

    torch.manual_seed(0)
    n = 64
    x = torch.randn(n, 2); y = x @ torch.tensor([[2.], [-1.]]) + 0.5; i = torch.arange(n)
    dls = SimpleNamespace(train=DataLoader(TensorDataset(x[:48], y[:48], i[:48]), batch_size=4),
                          valid=DataLoader(TensorDataset(x[48:], y[48:], i[48:]), batch_size=4))
    torch.manual_seed(1 + int(__import__('os').environ['RANK']))   # different initial weights: DDP must sync them
    seen = Seen()
    device = 'cpu' if torch.cuda.is_available() else None          # None: the default path (no GPU here)
    learn = Learner(Lin(), dls, loss_func=loss_func, lr=0.2, opt_func=torch.optim.SGD, cbs=[seen, LRSchedCB(cos_sched())], device=device)
    acc = learn.accelerator
    learn.fit(3)
    res = dict(rank=acc.process_index, world=acc.num_processes, dist=acc.distributed_type.value, device=str(learn.device),
               train=seen.train, valid=seen.valid, losses=learn.recorder.losses, stats=learn.recorder.stats,
               weights=[p.tolist() for p in learn.unwrapped_model.parameters()])

    # a dls of plain lists: the learner deals its batches round-robin
    batches = [(x[j:j+4], y[j:j+4], i[j:j+4]) for j in range(0, 20, 4)]   # 5 batches: 2 per process, 1 dropped
    learn.dls = SimpleNamespace(train=batches, valid=None)
    learn.fit(1)
    res['list_train'] = seen.train

    # a time budget: both processes must stop after the same number of steps (or DDP would hang)
    learn.dls = dls
    learn.progress.bar = False
    learn.fit(10_000, time_budget=1.0)
    res.update(budget_steps=learn.fit_steps, stopped=learn.stopped_early)

    ck = save_checkpoint(learn.model, out/'ck', note='two processes')   # every process calls it
    res['writes'] = writes
    res['loaded'] = [p.tolist() for p in load_checkpoint(ck, device='cpu').parameters()]
    res['final'] = [p.tolist() for p in learn.unwrapped_model.parameters()]
    (out/f'rank{acc.process_index}.json').write_text(json.dumps(res))
''')

def test_two_process_training(tmp_path):
    "Two processes: different shards of the data, synchronised weights and logged losses, one writer, one printer."
    if importlib.util.find_spec('torch.distributed.run') is None: pytest.skip('torchrun (torch.distributed.run) is not available')
    import torch.distributed
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip('torch.distributed with the gloo backend is not available')
    (tmp_path/'train.py').write_text(SCRIPT)
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'ACCELERATE_MIXED_PRECISION', 'ACCELERATE_USE_CPU'): env.pop(k, None)
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                        str(tmp_path/'train.py'), str(tmp_path)], capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path/f'rank{k}.json').read_text()) for k in (0, 1))

    assert (r0['rank'], r1['rank'], r0['world'], r1['world']) == (0, 1, 2, 2)
    assert r0['dist'] == r1['dist'] == 'MULTI_CPU'
    assert r0['device'].startswith('cpu') and r1['device'].startswith('cpu')
    # each process trains on its own shard (whole batches of 4, every other one), together on all 48 training samples
    for k in ('train', 'valid'): assert not set(r0[k]) & set(r1[k]), k
    assert sorted(r0['train'] + r1['train']) == sorted(list(range(48))*3)          # 3 epochs
    assert sorted(set(r0['valid'] + r1['valid'])) == list(range(48, 64))
    assert r0['train'][:8] == [0, 1, 2, 3, 8, 9, 10, 11] and r1['train'][:8] == [4, 5, 6, 7, 12, 13, 14, 15]
    assert len(r0['losses']) == len(r1['losses']) == 3*6                            # 6 of the 12 batches per epoch each
    # logged losses are means over the processes, so both record the same numbers; DDP keeps the weights equal
    assert r0['losses'] == r1['losses'] and r0['stats'][-1]['valid_loss'] == r1['stats'][-1]['valid_loss']
    assert r0['weights'] == r1['weights'] and r0['final'] == r1['final']
    assert r0['losses'][-1] < 0.1 * r0['losses'][0]                                 # and it learnt
    # a list of 5 batches: batches 0 and 2 to rank 0, 1 and 3 to rank 1, the 5th dropped (equal step counts)
    assert (r0['list_train'], r1['list_train']) == (list(range(0, 4)) + list(range(8, 12)), list(range(4, 8)) + list(range(12, 16)))
    assert r0['budget_steps'] == r1['budget_steps'] > 0 and r0['stopped'] and r1['stopped']
    # only rank 0 writes the checkpoint; both read it back after the barrier
    assert len(r0['writes']) == 1 and r1['writes'] == []
    assert sorted(p.name for p in (tmp_path/'ck').iterdir()) == ['config.json', 'model.safetensors']
    assert json.loads((tmp_path/'ck'/'config.json').read_text()) == {'arch': 'Lin', 'module': '__main__', 'args': {'n': 2}, 'note': 'two processes'}
    assert r0['loaded'] == r1['loaded'] == r0['final']
    # only the main process prints: one table header per fit (3 fits), not two
    assert r.stdout.count('train_loss') == 3, r.stdout
    assert 'time budget of 1.0s reached' in r.stdout
