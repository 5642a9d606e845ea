#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without needing Quarto).

Markdown cells are copied; code cells are shown as Python blocks with their text outputs,
except cells flagged `#| hide`. `python .ci/make_readme.py --check` exits 1 when README.md is stale."""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
HEADER = "<!-- Generated from nbs/index.ipynb by `python .ci/make_readme.py`: edit the notebook, not this file. -->\n\n"

def _src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def cell_md(c):
    src = _src(c)
    if c['cell_type'] == 'markdown':       # links relative to nbs/ become relative to the repository root
        return re.sub(r'(src="|\]\()(?!https?:|/|#|nbs/)', r'\1nbs/', src).strip()
    if c['cell_type'] != 'code': return ''
    lines = src.splitlines()
    flags = [l for l in lines if re.match(r'^#\|', l)]
    if any(re.match(r'^#\|\s*(hide|exporti|include:\s*false)\b', l) for l in flags): return ''
    code = '\n'.join(l for l in lines if not re.match(r'^#\|', l)).strip()
    echo = not any(re.match(r'^#\|\s*echo:\s*false', l) for l in flags)
    out = [f"```python\n{code}\n```"] if code and echo else []
    for o in c.get('outputs', []):
        txt = o.get('text') or o.get('data', {}).get('text/markdown') or o.get('data', {}).get('text/plain')
        if txt is None: continue
        txt = (''.join(txt) if isinstance(txt, list) else txt).rstrip()
        if o.get('data', {}).get('text/markdown'): out.append(txt)
        else: out.append(f"```\n{txt}\n```")
    return '\n\n'.join(out)

def make_readme(nb=root/'nbs'/'index.ipynb'):
    cells = json.loads(Path(nb).read_text())['cells']
    return HEADER + '\n\n'.join(s for s in map(cell_md, cells) if s) + '\n'

if __name__ == '__main__':
    text, readme = make_readme(), root/'README.md'
    if '--check' in sys.argv:
        ok = readme.exists() and readme.read_text() == text
        print('README.md is up to date' if ok else 'README.md differs from nbs/index.ipynb: run `python .ci/make_readme.py`')
        sys.exit(0 if ok else 1)
    readme.write_text(text)
    print(f'wrote {readme.name}')
