"""dev/tools/check-links.py, the link check `make lint` runs: it fails on a
broken file link and on a broken anchor, and passes on good ones."""

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKER = REPO / "dev" / "tools" / "check-links.py"

_spec = importlib.util.spec_from_file_location("check_links", CHECKER)
check_links = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_links)


def run(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), str(directory)], capture_output=True, text=True)


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


GUIDE = """# Guide

## Point Twilio at the stack: `make twilio-setup`

## Errors

## Errors

### `POST /sessions`

<a id="kept-anchor"></a>
"""


def test_good_links_and_anchors_pass(tmp_path):
    write(tmp_path, {
        "docs/guide.md": GUIDE,
        "docs/picture.png": "",
        "README.md": "\n".join([
            "[guide](docs/guide.md) ![picture](docs/picture.png) [folder](docs/)",
            "[setup](docs/guide.md#point-twilio-at-the-stack-make-twilio-setup)",
            "[second errors](docs/guide.md#errors-1) [create](<docs/guide.md#post-sessions>)",
            "[explicit](docs/guide.md#kept-anchor) [here](#more) [web](https://example.com/#nowhere)",
            "[root-relative](/docs/guide.md#errors) [ref]",
            "",
            "## More",
            "[ref]: docs/guide.md#guide",
        ]),
    })
    result = run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 Markdown files" in result.stdout


def test_a_link_to_a_missing_file_fails_and_is_named(tmp_path):
    write(tmp_path, {"README.md": "intro\n\nSee [the API](docs/api.md) for more.\n"})
    result = run(tmp_path)
    assert result.returncode == 1
    assert "README.md:3: docs/api.md: no such file: docs/api.md" in result.stdout


def test_a_link_to_a_missing_anchor_fails_and_is_named(tmp_path):
    write(tmp_path, {
        "docs/guide.md": GUIDE,
        "README.md": "[gone](docs/guide.md#errors-2)\n[self](#nothing-here)\n",
    })
    result = run(tmp_path)
    assert result.returncode == 1
    assert "README.md:1: docs/guide.md#errors-2: no heading with the anchor #errors-2 in guide.md" in result.stdout
    assert "README.md:2: #nothing-here: no heading with the anchor #nothing-here in README.md" in result.stdout
    assert "2 broken link(s)" in result.stdout


def test_links_inside_code_are_not_links(tmp_path):
    write(tmp_path, {"README.md": "```md\n[x](missing.md)\n```\n\n`[y](missing.md)`\n"})
    assert run(tmp_path).returncode == 0


def test_installed_trees_are_not_checked(tmp_path):
    write(tmp_path, {"node_modules/pkg/README.md": "[x](missing.md)\n", "target/doc/a.md": "[x](missing.md)\n"})
    assert run(tmp_path).returncode == 0


def test_headings_slug_as_on_github():
    assert check_links.slug("Point Twilio at the stack: `make twilio-setup`") == \
        "point-twilio-at-the-stack-make-twilio-setup"
    assert check_links.slug("1. Write the configuration: `make params`") == "1-write-the-configuration-make-params"
    assert check_links.slug("Coming from Twilio Proxy, Chime or the original app") == \
        "coming-from-twilio-proxy-chime-or-the-original-app"
    assert check_links.slug("The `masked_comms` record") == "the-masked_comms-record"
    assert check_links.slug("[Linked](x.md) heading") == "linked-heading"


def test_the_repository_has_no_broken_link():
    result = subprocess.run([sys.executable, str(CHECKER)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout
