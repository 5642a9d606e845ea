"The course as a reader sees it: workflow files, the docs site config, and rendered pages in a real browser."
import json, re, shutil, subprocess
from pathlib import Path
import pytest, yaml

root = Path(__file__).resolve().parent.parent
lessons = sorted(p.name for p in (root/'nbs').glob('[0-9]*.ipynb'))

# ---------- workflows and site config ----------
def _load(p): return yaml.safe_load(Path(p).read_text())

@pytest.mark.parametrize('name', ['test.yaml', 'gpu.yaml', 'deploy.yaml'])
def test_workflow_valid(name):
    wf = _load(root/'.github'/'workflows'/name)
    assert wf['jobs'] and ('on' in wf or True in wf)       # YAML 1.1 reads the key `on` as True
    for job in wf['jobs'].values():
        assert job['runs-on'] and job['steps']

def test_workflows_consistent_with_ci():
    steps = lambda n: '\n'.join(str(s.get('run', '')) for j in _load(root/'.github'/'workflows'/n)['jobs'].values() for s in j['steps'])
    assert 'bash .ci/run' in steps('test.yaml')              # CPU CI on GitHub runs exactly what CI runs here
    readme = (root/'README.md').read_text()
    install, test = [b.strip() for b in re.findall(r'```sh\n(.*?)\n```', readme, re.S)[:2]]
    gpu = steps('gpu.yaml')
    assert install in gpu and 'nbdev_test --flags "cuda slow"' in gpu and 'pytest -q tests' in gpu
    runs_on = _load(root/'.github'/'workflows'/'gpu.yaml')['jobs']['cuda-tests']['runs-on']
    assert 'self-hosted' in runs_on and 'gpu' in runs_on
    cond = _load(root/'.github'/'workflows'/'gpu.yaml')['jobs']['cuda-tests'].get('if', '')
    assert "workflow_dispatch" in cond and 'vars.GPU_RUNNER' in cond   # no job waits forever for a runner that is not there
    assert 'nbdev_docs' in steps('deploy.yaml')

def test_sidebar_follows_course_order():
    contents = _load(root/'nbs'/'sidebar.yml')['website']['sidebar']['contents']
    assert contents == ['index.ipynb'] + lessons
    assert 'sidebar.yml' in _load(root/'nbs'/'_quarto.yml')['metadata-files']
    assert _load(root/'nbs'/'nbdev.yml')['project']['output-dir'] == '_docs'

def test_lessons_runnable_in_colab():
    "Each lesson's first code cell installs the package in Colab only, is hidden from the docs, and the README links it."
    readme = (root/'README.md').read_text()
    for nb in lessons:
        cells = json.loads((root/'nbs'/nb).read_text())['cells']
        first = next(''.join(c['source']) for c in cells if c['cell_type'] == 'code')
        assert first.startswith('#| hide') and 'google.colab' in first and 'pip' in first, f"{nb}: no Colab install cell"
        assert f'https://colab.research.google.com/github/fastdiffusion/fastdiffusion/blob/main/nbs/{nb}' in readme, f"{nb}: no Colab link"
    for nb in (root/'nbs').glob('*.ipynb'):
        assert '/work/' not in nb.read_text() and '/home/' not in nb.read_text(), f"{nb.name} mentions a local path"

# ---------- rendered pages in headless Chromium ----------
CHECK = """<script>
window.__errs = [];
window.addEventListener('error', e => window.__errs.push(String(e.message || (e.target && e.target.src) || e)), true);
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
  document.body.setAttribute('data-check', JSON.stringify({n: imgs.length, ok: ok.length,
    sizes: ok.map(i => [i.naturalWidth, i.naturalHeight]), errors: window.__errs}));
});
</script>"""

def _chromium():
    for c in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(c): return shutil.which(c)

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--hide-scrollbars']

def render(nb, out):
    "Render `nb` with its outputs to a self-contained HTML page (images inline), with the load check script."
    import nbformat
    from nbconvert import HTMLExporter
    node = nbformat.read(nb, as_version=4)
    node.cells = [c for c in node.cells if not re.match(r'#\|\s*hide', c.source)]       # as the docs site shows them
    for c in node.cells: c.source = re.sub(r'^#\|.*\n?', '', c.source, flags=re.M)
    node.cells = [c for c in node.cells if c.source.strip() or c.get('outputs')]
    body, _ = HTMLExporter(template_name='basic').from_notebook_node(node)
    html = f"<!DOCTYPE html><html><head><meta charset='utf-8'><base href='{nb.parent.as_uri()}/'><title>{nb.stem}</title>{CHECK}" \
           "<style>body{font-family:sans-serif;max-width:1100px;margin:auto} pre{background:#f6f6f6;padding:6px;overflow:auto}</style>" \
           f"</head><body>{body}</body></html>"
    out.write_text(html)
    return out

def browse(chrome, page, shot, tmp):
    args = [chrome, *FLAGS, f'--user-data-dir={tmp/"profile"}', '--virtual-time-budget=10000']
    dom = subprocess.run(args + ['--dump-dom', page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    subprocess.run(args + [f'--screenshot={shot}', '--window-size=1200,1600', page.as_uri()], capture_output=True, timeout=120)
    m = re.search(r'data-check="([^"]*)"', dom)
    assert m, f"{page.name}: the page did not finish loading"
    return json.loads(m.group(1).replace('&quot;', '"'))

def test_rendered_pages_in_browser(tmp_path):
    chrome = _chromium()
    if chrome is None: pytest.skip('Chromium is not installed (Debian: apt-get install chromium); the browser test needs it')
    pages = {nb.stem: render(nb, tmp_path/f'{nb.stem}.html') for nb in sorted((root/'nbs').glob('*.ipynb'))}
    assert all(p.stat().st_size > 1000 for p in pages.values())
    lesson = '01_data' if '01_data' in pages else sorted(k for k in pages if k[0].isdigit())[0]
    from PIL import Image
    import numpy as np
    shots = root/'tests'/'_screenshots'
    for name in ('index', lesson):
        shot = tmp_path/f'{name}.png'
        res = browse(chrome, pages[name], shot, tmp_path)
        assert res['errors'] == [], f"{name}: errors while loading: {res['errors']}"
        assert res['ok'] == res['n'], f"{name}: {res['n'] - res['ok']} of {res['n']} images not decoded"
        a = np.asarray(Image.open(shot).convert('L'))
        assert a.shape[0] > 100 and a.std() > 5, f"{name}: the screenshot is blank"
        if name == lesson: assert res['n'] >= 1 and all(w > 50 and h > 50 for w, h in res['sizes']), f"{lesson} shows no image"
        if shots.is_dir(): shutil.copy(shot, shots/shot.name)      # keep screenshots when asked (mkdir tests/_screenshots)
