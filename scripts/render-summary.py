#!/usr/bin/env python3
"""Renders what a refusal looks like on GitHub, to look at and to show in the README.

    scripts/render-summary.py OUT.png [BATCH_DIR]

Runs `codebuild-retry-gate explain` on an example batch (default: test-failure) for the
commit-status description (`--format json`, field `reason`, as the gate shortens it) and for
the job summary (`--format markdown`), converts the markdown to HTML with markdown-it-py (a
CommonMark + GFM-tables renderer, installed into target/doc-venv), lays both out in
GitHub-like styling, and screenshots the page with headless Chromium
(apt-get install chromium). The HTML is kept next to the PNG.
"""
import html
import json
import os
import pathlib
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1]).resolve()
example = root / "examples/batches" / (sys.argv[2] if len(sys.argv) > 2 else "test-failure")
venv = root / "target/doc-venv"
if not (venv / "bin/python").exists():
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/pip"), "install", "-q", "markdown-it-py==3.0.0"], check=True)
if os.environ.get("RENDER_SUMMARY_IN_VENV") != "1":
    os.environ["RENDER_SUMMARY_IN_VENV"] = "1"
    os.execv(str(venv / "bin/python"), [str(venv / "bin/python"), __file__, *sys.argv[1:]])

from markdown_it import MarkdownIt  # noqa: E402

binary = root / "target/debug/codebuild-retry-gate"
args = [str(binary), "explain", str(example / "batch.json")]
if (example / "builds.json").exists():
    args += ["--builds", str(example / "builds.json")]
report = json.loads(subprocess.run(args + ["--format", "json"], check=True, capture_output=True, text=True).stdout)
summary = subprocess.run(args + ["--format", "markdown"], check=True, capture_output=True, text=True).stdout
sys.path.insert(0, str(root / "scripts"))
description = report["reason"] if len(report["reason"].encode()) <= 140 else report["reason"][:137] + "..."
state_icon = {"refuse": "✕", "retry": "●", "pass": "✓", "wait": "●"}[report["decision"]]
state_class = {"refuse": "failure", "retry": "pending", "pass": "success", "wait": "pending"}[report["decision"]]

body = MarkdownIt("commonmark").enable("table").render(summary)
page = f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font: 14px -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; color: #1f2328;
       margin: 24px; width: 1100px; }}
.box {{ border: 1px solid #d1d9e0; border-radius: 6px; margin-bottom: 24px; }}
.box h4 {{ margin: 0; padding: 12px 16px; background: #f6f8fa; border-bottom: 1px solid #d1d9e0; font-size: 14px; }}
.check {{ display: flex; gap: 10px; padding: 10px 16px; align-items: baseline; }}
.failure {{ color: #d1242f; font-weight: 700; }} .pending {{ color: #9a6700; font-weight: 700; }}
.success {{ color: #1a7f37; font-weight: 700; }}
.muted {{ color: #59636e; }}
.summary {{ padding: 8px 24px 16px; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
th, td {{ border: 1px solid #d1d9e0; padding: 6px 13px; text-align: left; vertical-align: top; }}
tr:nth-child(2n) {{ background: #f6f8fa; }}
code {{ background: #eff1f3; padding: 2px 5px; border-radius: 6px; font-size: 85%; }}
a {{ color: #0969da; text-decoration: none; }}
</style></head><body>
<div class="box"><h4>Some checks were not successful</h4>
<div class="check"><span class="{state_class}">{state_icon}</span>
<b>{html.escape(report["context"])}</b> <span class="muted">— {html.escape(description)}</span></div></div>
<div class="box"><h4>Job summary</h4><div class="summary">{body}</div></div>
</body></html>"""
html_path = out.with_suffix(".html")
html_path.write_text(page, encoding="utf-8")
subprocess.run(
    ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
     "--disable-background-networking", "--disable-component-update", "--disable-sync",
     f"--user-data-dir={root / 'target/chromium-profile'}", "--hide-scrollbars",
     f"--screenshot={out}", "--window-size=1150,760", html_path.as_uri()],
    check=True, capture_output=True,
)
print(out)
