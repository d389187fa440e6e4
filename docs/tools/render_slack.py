"""Render keywatch's Slack messages (Block Kit JSON) to an HTML page that looks like Slack, and screenshot it.

    .venv/bin/python docs/tools/render_slack.py            # writes docs/img/slack-*.png

The inputs are the Block Kit snapshots the tests check (tests/notify/snapshots/), so the picture
is exactly what keywatch posts. The mrkdwn translation below covers what keywatch writes (bold,
code spans, console links, a few emoji), not all of Slack's. Screenshots need ``chromium``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "notify" / "snapshots"
APPROVAL_SNAPSHOTS = ROOT / "tests" / "approvals" / "snapshots"
OUT = ROOT / "docs" / "img"
WIDTH = 860

EMOJI = {
    ":rotating_light:": "\U0001f6a8",
    ":large_orange_circle:": "\U0001f7e0",
    ":large_yellow_circle:": "\U0001f7e1",
    ":large_blue_circle:": "\U0001f535",
    ":information_source:": "\u2139\ufe0f",
    ":white_check_mark:": "\u2705",
    ":x:": "\u274c",
    ":memo:": "\U0001f4dd",
    ":fast_forward:": "\u23e9",
    ":hourglass_flowing_sand:": "\u23f3",
}

CSS = """
body { margin: 0; background: #fff; font: 15px/1.46 -apple-system, "Segoe UI", "Noto Sans", "DejaVu Sans", sans-serif;
       color: #1d1c1d; }
.channel { padding: 10px 20px; border-bottom: 1px solid #e8e8e8; font-weight: 900; font-size: 18px; }
.msg { display: flex; padding: 12px 20px 8px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff; font-weight: 900;
          display: flex; align-items: center; justify-content: center; margin-right: 10px; flex: none; }
.who b { font-weight: 900; } .app { background: #e8e8e8; color: #616061; font-size: 10px; font-weight: 700;
        padding: 1px 3px; border-radius: 2px; margin: 0 4px; } .time { color: #616061; font-size: 12px; }
.fallback { margin: 2px 0 4px; }
.att { display: flex; margin-top: 4px; } .bar { width: 4px; border-radius: 8px 0 0 8px; flex: none; }
.blocks { padding: 2px 12px 2px 12px; min-width: 0; }
.header { font-size: 18px; font-weight: 900; margin: 4px 0 6px; }
.section { margin: 6px 0; word-wrap: break-word; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 6px 24px; margin: 8px 0; }
.divider { border-top: 1px solid #ddd; margin: 10px 0; }
.context { color: #616061; font-size: 12px; margin: 8px 0 4px; }
code { font: 12px "DejaVu Sans Mono", Menlo, monospace; color: #e01e5a; background: #f6f6f6;
       border: 1px solid #e1e1e1; border-radius: 3px; padding: 1px 3px; word-break: break-all; }
pre { font: 12px "DejaVu Sans Mono", Menlo, monospace; background: #f8f8f8; border: 1px solid #e1e1e1;
      border-radius: 4px; padding: 6px 8px; margin: 4px 0; white-space: pre-wrap; word-break: break-all; }
a { color: #1264a3; text-decoration: none; }
.thread { margin: 0 20px 0 66px; padding: 6px 0 0; color: #1264a3; font-size: 13px; font-weight: 700; }
.reply { margin-left: 46px; border-left: 2px solid #e8e8e8; }
.mention { background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.button { border: 1px solid #c7c7c7; border-radius: 4px; padding: 3px 12px; font-size: 13px; font-weight: 700;
          background: #fff; color: #1d1c1d; }
.button.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.button.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
"""


def mrkdwn(text: str) -> str:
    """keywatch's mrkdwn to HTML. The text already carries Slack's &amp; &lt; &gt; entities."""
    saved: list[str] = []

    def keep(fragment: str) -> str:
        saved.append(fragment)
        return f"\x00{len(saved) - 1}\x00"

    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", lambda m: keep(f'<a href="{m[1]}">{m[2]}</a>'), text)
    text = re.sub(r"```(.*?)```", lambda m: keep(f"<pre>{m[1]}</pre>"), text, flags=re.S)
    text = re.sub(r"`([^`]*)`", lambda m: keep(f"<code>{m[1]}</code>"), text)
    text = re.sub(r"<@([UW][A-Z0-9]+)>", lambda m: keep(f'<span class="mention">@{m[1]}</span>'), text)
    text = text.replace('"', "&quot;")
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", text)
    for name, char in EMOJI.items():
        text = text.replace(name, char)
    text = text.replace("\n", "<br>")
    return re.sub("\x00(\\d+)\x00", lambda m: saved[int(m[1])], text)


def block_html(block: dict) -> str:
    kind = block["type"]
    if kind == "header":
        value = html.escape(block["text"]["text"])
        for name, char in EMOJI.items():
            value = value.replace(name, char)
        return f'<div class="header">{value}</div>'
    if kind == "divider":
        return '<div class="divider"></div>'
    if kind == "actions":
        return (
            '<div class="actions">'
            + "".join(
                f'<span class="button {e.get("style", "")}">{html.escape(e["text"]["text"])}</span>'
                for e in block["elements"]
            )
            + "</div>"
        )
    if kind == "context":
        return '<div class="context">' + " ".join(mrkdwn(e["text"]) for e in block["elements"]) + "</div>"
    if "fields" in block:
        return '<div class="fields">' + "".join(f"<div>{mrkdwn(f['text'])}</div>" for f in block["fields"]) + "</div>"
    return f'<div class="section">{mrkdwn(block["text"]["text"])}</div>'


def message_html(payload: dict, time: str, reply: bool = False) -> str:
    attachment = payload["attachments"][0]
    blocks = "".join(block_html(b) for b in attachment["blocks"])
    return (
        f'<div class="msg{" reply" if reply else ""}"><div class="avatar">kw</div><div style="min-width:0">'
        f'<div class="who"><b>keywatch</b><span class="app">APP</span><span class="time">{time}</span></div>'
        f'<div class="fallback">{mrkdwn(payload["text"])}</div>'
        f'<div class="att"><div class="bar" style="background:{attachment["color"]}"></div>'
        f'<div class="blocks">{blocks}</div></div></div></div>'
    )


def page(parts: list[str]) -> str:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><style>{CSS}</style></head>'
        f'<body style="width:{WIDTH}px"><div class="channel"># efs-alerts</div>{"".join(parts)}'
        "<script>document.title = String(document.body.scrollHeight)</script></body></html>"
    )


def screenshot(source: Path, target: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        print("chromium is needed for the screenshots (apt-get install chromium)", file=sys.stderr)
        return
    common = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ]
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(  # noqa: S603
            [*common, f"--user-data-dir={profile}", "--dump-dom", source.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        height = int(re.search(r"<title>(\d+)</title>", dom)[1]) + 8  # type: ignore[index]
        subprocess.run(  # noqa: S603
            [
                *common,
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{height}",
                f"--screenshot={target}",
                source.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    print(f"wrote {target.relative_to(ROOT)} ({WIDTH}x{height})")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    load = lambda name: json.loads((SNAPSHOTS / f"{name}.json").read_text())  # noqa: E731
    approval = lambda name: json.loads((APPROVAL_SNAPSHOTS / f"{name}.json").read_text())  # noqa: E731
    pictures = {
        "slack-alert": [message_html(load("schedule_key_deletion_enforced"), "10:02 AM")],
        "slack-thread": [
            message_html(load("delete_imported_key_material"), "1:00 PM"),
            '<div class="thread">1 reply \u00b7 also sent to the channel</div>',
            message_html(load("import_key_material"), "1:47 PM", reply=True),
        ],
        "slack-approve": [message_html(approval("approve_alert"), "5:00 AM")],
        "slack-approved": [message_html(approval("approve_after"), "5:00 AM (edited)")],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, parts in pictures.items():
            source = Path(tmp) / f"{name}.html"
            source.write_text(page(parts), encoding="utf-8")
            screenshot(source, OUT / f"{name}.png")


if __name__ == "__main__":
    main()
