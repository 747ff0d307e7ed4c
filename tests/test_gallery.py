"""The gallery (ganzoo-gallery): built from the shipped models, every image it shows exists and
decodes, nothing is fetched from elsewhere, and a headless Chromium renders it cleanly."""
import base64
import html.parser
import json
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from PIL import Image

import ganzoo
from ganzoo import gallery, hub, registry
from helpers import ROOT

DATA = next((d for d in (os.environ.get("GANZOO_DATA"), os.path.join(ROOT, "..", "shared", "data"))
             if d and os.path.isdir(d)), None)
NO_DATA = "no-such-data-dir"  # relative to the build's cwd; never exists
VOID = {"meta", "link", "img", "br", "hr", "input", "source", "col", "area", "base", "wbr"}


class Page(html.parser.HTMLParser):
    """What the tests look at: cards (id -> their text), images, links, and nesting errors."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.cards, self.imgs, self.refs, self.errors, self.stack = {}, [], [], [], []
        self.card = None
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed {self.stack}")

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "card" in attrs.get("class", "").split():
            self.card = attrs["id"]
            self.cards[self.card] = ""
        if tag == "img":
            self.imgs.append((self.card, attrs))
        self.refs += [v for k, v in attrs.items() if k in ("src", "href", "srcset", "action")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        if tag == "section":
            self.card = None

    def handle_data(self, data):
        if self.card:
            self.cards[self.card] += data


def card_json(name):
    version = str(registry.get(name)["version"])
    with open(os.path.join(hub.REPO_MODELS, name, version, "model_card.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every shipped model, without real data (as in a fresh clone): ~10 s."""
    out = tmp_path_factory.mktemp("gallery")
    start = time.time()
    page = gallery.build(out, data_dir=out / NO_DATA)
    print(f"gallery of {len(ganzoo.list_models())} models built in {time.time() - start:.1f} s")
    with open(page, encoding="utf-8") as f:
        text = f.read()
    return out, text, Page(text)


def test_page_has_a_card_per_model_with_its_load_line_metrics_and_pin(built):
    _, _, page = built
    assert not page.errors
    assert list(page.cards) == ganzoo.list_models()
    for name, text in page.cards.items():
        entry, card = registry.get(name), card_json(name)
        assert f'ganzoo.load("{name}")' in text
        assert entry["sha256"] in text and f"version {entry['version']}" in text
        assert card["dataset"]["licence"] in text
        assert f"{card['training']['steps']:,}" in text
        m = card["metrics"]
        assert "GMM floor" in text and "real data (ceiling)" in text
        assert ("FID ↓" + f"{m['values']['fid']:.2f}" + f"{m['floor']['fid']:.2f}"
                + f"{m['ceiling']['fid']:.2f}") in text, name
        assert m["extractor"]["name"] in text and f"N = {m['num_samples']:,}" in text


def test_every_image_exists_decodes_and_is_used(built):
    out, _, page = built
    srcs = set()
    for card, attrs in page.imgs:
        src = attrs["src"]
        assert src.startswith("images/") and src.endswith(".png"), src
        with Image.open(out / src) as im:
            assert im.format == "PNG"
            im.load()
            assert (int(attrs["width"]), int(attrs["height"])) >= im.size  # only ever scaled up
        assert attrs.get("alt")
        srcs.add(src)
    assert {card for card, _ in page.imgs} == set(page.cards)  # every card shows something
    assert srcs == {f"images/{n}" for n in os.listdir(out / "images")}


def test_page_works_offline(built):
    _, text, page = built
    assert page.refs and all(r.startswith(("images/", "#", "data:")) for r in page.refs), page.refs
    assert "<script" not in text and "@import" not in text and "url(" not in text


def test_interpolation_strip_has_one_row_per_class(built):
    out, _, _ = built
    pad = 2
    for name in ("cgan_mnist", "dcgan_mnist"):
        res, classes = card_json(name)["resolution"], card_json(name)["num_classes"]
        with Image.open(out / "images" / f"{name}-interpolation.png") as im:
            rows = max(classes, 1)
            assert im.size == (gallery.STEPS * (res + pad) + pad, rows * (res + pad) + pad)


def test_translation_model_without_data_shows_the_shipped_preview(built):
    out, _, page = built
    name = "cyclegan_face2genshin"
    assert "No test images" in page.cards[name]
    shipped = os.path.join(hub.REPO_MODELS, name, str(registry.get(name)["version"]), "samples.png")
    [(_, attrs)] = [(c, a) for c, a in page.imgs if c == name]
    np.testing.assert_array_equal(np.asarray(Image.open(out / attrs["src"])),
                                  np.asarray(Image.open(shipped)))


@pytest.mark.skipif(DATA is None, reason="real data (../shared/data) absent: the translation "
                    "card falls back to the shipped preview, tested above")
def test_translation_model_with_data_translates_test_images(tmp_path):
    from ganzoo import data
    name = "cyclegan_face2genshin"
    card = card_json(name)
    folder = os.path.join(DATA, card["dataset"]["name"])
    if not os.path.isdir(os.path.join(folder, "testA")):
        pytest.skip(f"{folder}/testA absent")
    page = Page(open(gallery.build(tmp_path, [name], data_dir=DATA), encoding="utf-8").read())
    assert "No test images" not in page.cards[name]
    assert [a["src"] for _, a in page.imgs] == [f"images/{name}-a2b.png", f"images/{name}-b2a.png"]
    res, pad = card["resolution"], 2
    first_a = next(iter(data.real_images(f"cyclegan:{folder}", res, 3, split="test", domain="A")))
    grid = np.asarray(Image.open(tmp_path / "images" / f"{name}-a2b.png"))
    assert grid.shape == (gallery.TRANSLATIONS * (res + pad) + pad, 3 * (res + pad) + pad, 3)
    np.testing.assert_array_equal(grid[pad:pad + res, pad:pad + res], first_a.numpy())
    translated = grid[pad:pad + res, 2 * pad + res:2 * pad + 2 * res]
    assert np.abs(translated.astype(int) - first_a.numpy()).mean() > 5  # not the input again


def test_same_models_same_output(built, tmp_path):
    out, _, page = built
    name = "cgan_mnist"
    again = Page(open(gallery.build(tmp_path, [name], data_dir=NO_DATA), encoding="utf-8").read())
    assert again.cards[name] == page.cards[name]
    for n in os.listdir(tmp_path / "images"):
        assert (tmp_path / "images" / n).read_bytes() == (out / "images" / n).read_bytes(), n


def test_card_text_is_escaped(tmp_path, monkeypatch):
    real_load = ganzoo.load

    def load(name):
        model = real_load(name)
        model.card = dict(model.card, dataset=dict(model.card["dataset"],
                                                   licence='<script>alert("x")</script> & co'))
        return model
    monkeypatch.setattr(ganzoo, "load", load)
    text = open(gallery.build(tmp_path, ["gan_mnist"], data_dir=NO_DATA), encoding="utf-8").read()
    assert "<script" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in text


def test_unknown_model_fails_before_writing_anything(tmp_path):
    with pytest.raises(KeyError, match="Did you mean 'dcgan_mnist'"):
        gallery.build(tmp_path / "out", ["dcgan_mnist", "dcgan_mnsit"])
    assert not (tmp_path / "out").exists()


def gallery_cli(*args):
    return subprocess.run([sys.executable, "-m", "ganzoo.cli.gallery", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_bad_model_name_is_one_line(tmp_path):
    out = gallery_cli(f"--out={tmp_path}", "--models=gan_mnist,dcgan_mnsit")
    assert out.returncode == 1
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("ganzoo-gallery: error: Unknown pretrained model 'dcgan_mnsit'.")
    assert "Did you mean 'dcgan_mnist'" in line


def test_cli_builds_the_named_models(tmp_path):
    out = gallery_cli(f"--out={tmp_path}", "--models=gan_mnist", f"--data_dir={tmp_path / NO_DATA}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == str(tmp_path / "index.html")
    assert list(Page((tmp_path / "index.html").read_text()).cards) == ["gan_mnist"]


# --- headless Chromium, driven over the DevTools protocol on a pipe (standard library only) -----

def find_chromium():
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


class Chromium:
    """A headless Chromium speaking the DevTools protocol over ``--remote-debugging-pipe``:
    JSON messages, each ended by a NUL byte; it reads commands on fd 3 and writes on fd 4."""

    def __init__(self, binary, workdir, timeout=60):
        self.timeout, self.next_id, self.buffer, self.events = timeout, 0, b"", []
        to_chrome, self.write_fd = os.pipe()
        self.read_fd, from_chrome = os.pipe()

        # Only preexec_fn can put the pipe ends on fds 3 and 4 in the child (whatever numbers
        # they have here); it just duplicates descriptors, safe enough between fork and exec.
        def fds():
            r, w = os.dup(to_chrome), os.dup(from_chrome)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.log = open(os.path.join(workdir, "chromium.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-extensions", "--disable-sync",
             "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
             "--mute-audio", "--remote-debugging-pipe", f"--user-data-dir={workdir}/profile"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            pass_fds=(3, 4), preexec_fn=fds, start_new_session=True)
        os.close(to_chrome)
        os.close(from_chrome)

    def send(self, method, session=None, **params):
        """The result of one command; events that arrive meanwhile go to ``self.events``."""
        self.next_id += 1
        message = dict(id=self.next_id, method=method, params=params)
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self.receive(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def receive(self, deadline):
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                raise TimeoutError(f"no reply from Chromium in {self.timeout} s")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited ({self.proc.poll()}); see {self.log.name}")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, method, session):
        deadline = time.monotonic() + self.timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self.receive(deadline))

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the browser's helpers too
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        for fd in (self.read_fd, self.write_fd):
            os.close(fd)
        self.log.close()


def render(page, screenshot, width=1280, height=900):
    """Open ``page`` (a file) in headless Chromium and save a ``width`` x ``height`` screenshot
    of its top. Returns the card ids, the images as (src, naturalWidth) and the console
    errors (console.error, uncaught exceptions, and the browser's own error log: failed loads)."""
    binary = find_chromium()
    with tempfile.TemporaryDirectory() as workdir:
        browser = Chromium(binary, workdir)
        try:
            target = browser.send("Target.createTarget", url="about:blank")["targetId"]
            session = browser.send("Target.attachToTarget", targetId=target,
                                   flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                browser.send(f"{domain}.enable", session)
            browser.send("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                         deviceScaleFactor=1, mobile=False)
            url = pathlib.Path(page).resolve().as_uri()
            browser.events.clear()  # about:blank's
            browser.send("Page.navigate", session, url=url)
            browser.wait_for("Page.loadEventFired", session)  # every <img> loaded or failed
            found = browser.send("Runtime.evaluate", session, returnByValue=True, expression="""({
                url: location.href, ready: document.readyState,
                cards: [...document.querySelectorAll('section.card')].map(s => s.id),
                images: [...document.images].map(i => [i.getAttribute('src'),
                                                       i.complete ? i.naturalWidth : 0])})""")
            shot = browser.send("Page.captureScreenshot", session, format="png")
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            value = found["result"]["value"]
            assert (value["url"], value["ready"]) == (url, "complete"), value
            return value["cards"], value["images"], [e for e in map(error, browser.events) if e]
        finally:
            browser.close()


def error(event):
    """The text of a DevTools event that reports an error (console.error or console.assert,
    an uncaught exception, or a browser log error such as a failed load), else None."""
    method, p = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
        return " ".join(str(a.get("value", a.get("description"))) for a in p["args"])
    if method == "Runtime.exceptionThrown":
        return p["exceptionDetails"].get("text", "exception")
    if method == "Log.entryAdded" and p["entry"]["level"] == "error":
        return f"{p['entry'].get('url', '')}: {p['entry']['text']}"
    return None


needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="no chromium, chromium-browser or google-chrome on PATH "
    "(.ci/run installs Debian's chromium where it can)")


@needs_chromium
def test_chromium_renders_every_card_without_broken_images_or_errors(built, tmp_path):
    out, _, page = built
    screenshot = tmp_path / "gallery.png"
    cards, imgs, errors = render(out / "index.html", screenshot)
    assert cards == list(page.cards)
    assert len(imgs) == len(page.imgs)
    assert [src for src, width in imgs if width == 0] == []
    assert errors == []
    with Image.open(screenshot) as im:
        assert im.format == "PNG" and im.size == (1280, 900)
        assert len(im.convert("L").getcolors(1 << 16)) > 16  # rendered images, not a blank page


@needs_chromium
def test_chromium_check_sees_broken_images_and_errors(built, tmp_path):
    """The check above can fail: a missing image and a script error are both reported."""
    out, text, _ = built
    bad = out / "broken.html"
    bad.write_text(text.replace('src="images/gan_mnist-samples.png"', 'src="images/missing.png"')
                   .replace("</body>", "<script>console.error('boom')</script></body>"))
    try:
        cards, imgs, errors = render(bad, tmp_path / "shot.png")
    finally:
        bad.unlink()
    assert [src for src, width in imgs if width == 0] == ["images/missing.png"]
    assert any("boom" in e for e in errors) and any("missing.png" in e for e in errors), errors
