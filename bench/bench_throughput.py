"""Training throughput of the recipe's network (notebook 16): memory format, bf16 autocast, torch.compile, batch size and threads.

    python bench/bench_throughput.py
    python bench/bench_throughput.py --device cuda --threads 1 --bss 32,128,512 --out throughput_cuda.json   # on a GPU

One training step is the recipe's: the EDM-preconditioned `PatchUNet` (0.74 M parameters), log-normal σ, the EDM loss,
AdamW. Each setting is measured `rounds` times for `secs` seconds, interleaved with the others (so a machine that gets
busier or quieter during the run tilts every setting alike), after warm-up steps (compilation included in warm-up, and
its time reported separately). Reports the median images per second and its ratio to the plain float32 setting at
the same batch size and threads. Results go to `nbs/bench/training/throughput.json` (`--out`: another name there). On a GPU
(`--device cuda`) each timing waits for the queued work to finish.
"""
import json, time, datetime, platform, statistics
from pathlib import Path
import torch
from fastcore.script import call_parse

OUT = Path(__file__).resolve().parent.parent/'nbs'/'bench'/'training'

def make_step(bs:int, channels_last:bool=False, bf16:bool=False, compile:bool=False, device='cpu'):
    "A function doing one training step of the recipe at batch size `bs`, and the seconds its first two calls took."
    from fastdiffusion.unet import PatchUNet
    from fastdiffusion.karras import Denoiser, EDMLoss
    from fastdiffusion.karras import rand_log_normal
    torch.manual_seed(0)
    model = Denoiser(PatchUNet(1, 2, nfs=[32, 64], n_blocks=1, attn_levels=[1]), 0.8).to(device)
    if channels_last: model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model) if compile else model
    opt, loss_f = torch.optim.AdamW(model.parameters(), 2e-3), EDMLoss(0.8)
    y = torch.rand(bs, 1, 28, 28, device=device) * 2 - 1
    if channels_last: y = y.contiguous(memory_format=torch.channels_last)
    def step():
        sigma = rand_log_normal(bs, 0., 1.4, device=device)
        with torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16):
            d = fwd(y + sigma[:, None, None, None] * torch.randn_like(y), sigma)
        loss = loss_f(d.float(), y, sigma); opt.zero_grad(); loss.backward(); opt.step()
    t0 = time.perf_counter(); step(); step()
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()
    return step, time.perf_counter() - t0

@call_parse
def main(rounds:int=3, secs:float=4., threads:str='1,2', bss:str='16,32,64,128', compile:bool=True,
         device:str='cpu', # 'cpu', 'cuda', ...
         out:str='throughput.json'): # file name in nbs/bench/training
    "Measure each setting's training images per second, interleaved."
    settings = [dict(bs=b) for b in map(int, bss.split(','))]
    settings += [dict(bs=32, channels_last=True), dict(bs=32, bf16=True), *([dict(bs=32, compile=True)] if compile else [])]
    cuda = torch.device(device).type == 'cuda'
    sync = torch.cuda.synchronize if cuda else (lambda: None)   # GPU work is queued: wait for it before reading the clock
    rows = []
    for th in map(int, threads.split(',')):
        torch.set_num_threads(th)
        steps = [(s, *make_step(**s, device=device)) for s in settings]
        ips = {i: [] for i in range(len(steps))}
        for r in range(rounds):
            for i, (s, f, _) in enumerate(steps):
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < secs: f(); n += s['bs']
                sync()
                ips[i].append(n / (time.perf_counter() - t0))
        for i, (s, f, warm) in enumerate(steps):
            rows.append(dict(threads=th, **s, img_per_s=round(statistics.median(ips[i]), 1), warmup_s=round(warm, 1)))
        base = {r['bs']: r['img_per_s'] for r in rows if r['threads'] == th and len(r) == 4}
        for r in rows:
            if r['threads'] == th: r['vs_fp32'] = round(r['img_per_s'] / base[r['bs']], 2)
        for r in rows[-len(steps):]: print(r, flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    dev = torch.cuda.get_device_name(device) if cuda else None
    (OUT/out).write_text(json.dumps(dict(rows=rows, cpu=platform.processor() or platform.machine(), device=dev or device, torch=torch.__version__,
        when=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M')), indent=1))
