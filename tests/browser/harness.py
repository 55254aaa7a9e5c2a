"""Drive widgets in a real JupyterLab with Debian's Chromium: the browser-test harness.

The pieces, each usable alone (the fixtures in ``conftest.py`` wire them together):

- :func:`ensure_chromium` installs Debian's ``chromium`` (and fonts) with apt-get when
  ``/usr/bin/chromium`` is missing; Playwright never downloads a browser here.
- :class:`JupyterLabServer` runs ``jupyter lab`` on 127.0.0.1, a free port, no token, in a
  temporary root folder with its own settings, runtime and workspace folders.
- :func:`write_notebook` writes a notebook of code cells.
- :class:`Notebook` opens one in a Playwright page, waits for its kernel the careful way
  (see ../shared/BROWSER_TESTING.md: clicking Run All too early can start a second
  kernel), runs all cells, and reads results back from the kernel itself
  (:meth:`Notebook.kernel_eval` runs an expression in the notebook's kernel through a
  second client and returns its JSON value).

Everything the test process does on the network is on the loopback interface (HTTP to the
server, ZeroMQ to the kernel), which the pytest-socket settings allow; Playwright talks to
its driver and Chromium through pipes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Headless Chromium slows timers and rendering of pages it thinks are hidden; the
    # latency we measure must be that of a visible page.
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
# The notebook panel on show (others may sit hidden in the DOM behind their tabs).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
# JupyterLab settings for a quiet, repeatable page: no news or update toasts over the widgets.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}


class HarnessError(RuntimeError):
    """The browser, the server or the notebook did not get where the test needs it."""


def wait_until(condition: Callable[[], object], timeout: float = 20.0, interval: float = 0.1,
               what: str = "condition") -> object:
    """Poll ``condition()`` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as e:  # polled conditions may fail until the thing is ready
            last_error, value = e, None
        if value:
            return value
        time.sleep(interval)
    raise HarnessError(f"timed out after {timeout:g} s waiting for {what}"
                       + (f" (last error: {last_error!r})" if last_error else ""))


# -- the browser -----------------------------------------------------------------------------------
def ensure_chromium() -> Path:
    """Return Debian's Chromium, installing it (and fonts-liberation) with apt-get if missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        raise HarnessError(f"{CHROMIUM} is missing and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [["apt-get", "update", "-qq"],
             ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium",
              "fonts-liberation"]]
    if os.geteuid() != 0:
        steps = [["sudo", "-n", *s] for s in steps]
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise HarnessError(f"{' '.join(step)} failed:\n{done.stderr[-2000:]}")
    if not CHROMIUM.exists():
        raise HarnessError(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


def launch_browser(playwright, user_data_dir: Path, *, viewport=(1280, 1100)):
    """A persistent Chromium context on Debian's binary with the flags this sandbox needs."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=str(ensure_chromium()), headless=True,
        args=CHROMIUM_ARGS, viewport={"width": viewport[0], "height": viewport[1]},
    )


# -- the server ------------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLabServer:
    """``jupyter lab`` on 127.0.0.1 with no token, rooted in ``root``; stop it with :meth:`stop`.

    Parameters
    ----------
    root
        The server's root folder (notebooks are written here).
    home
        A private folder for Jupyter's settings, runtime files and workspaces, so no user
        configuration or earlier session leaks into a test.
    """

    def __init__(self, root: Path, home: Path):
        self.root = Path(root)
        self.home = Path(home)
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path = self.home / "jupyter.log"
        self.runtime_dir = self.home / "runtime"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> JupyterLabServer:
        self.root.mkdir(parents=True, exist_ok=True)
        settings = self.home / "lab-settings"
        for name, value in LAB_SETTINGS.items():
            f = settings / name
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(value))
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.home / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.home / "workspaces"),
            "IPYTHONDIR": str(self.home / "ipython"),
            "PYTHONUNBUFFERED": "1",
        }
        # The kernel imports the package from this checkout, whatever the server's cwd.
        repo = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
        for attempt in range(3):  # a port taken between free_port() and bind: try another
            self.port = free_port()
            cmd = [
                sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
                "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
                "--IdentityProvider.token=", "--ServerApp.password=",
                f"--ServerApp.root_dir={self.root}", "--ServerApp.disable_check_xsrf=True",
                "--LabApp.expose_app_in_browser=True", "--LabServerApp.open_browser=False",
            ]
            log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            self._log = log
            self.process = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
            try:
                wait_until(self._ready, timeout, 0.2, f"JupyterLab on port {self.port}")
                return self
            except HarnessError:
                exited = self.process.poll() is not None
                self.stop()
                if not exited or attempt == 2:
                    raise HarnessError(f"JupyterLab did not start; log:\n{self.log_tail()}") from None
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise HarnessError(f"jupyter lab exited with {self.process.returncode}")
        try:
            return self.api("api/status") is not None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def api(self, path: str, method: str = "GET"):
        """JSON from the server's REST API (``path`` like ``"api/kernels"``)."""
        request = urllib.request.Request(f"{self.url}/{path}", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (and its kernels) by its process group; safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> JupyterLabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def write_notebook(path: Path, cells: Iterable[str]) -> Path:
    """Write a Python 3 notebook whose code cells are ``cells``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


# -- a notebook in the browser ---------------------------------------------------------------------
class Notebook:
    """A notebook opened in a Playwright page of a running :class:`JupyterLabServer`.

    ``page`` is the Playwright page; :attr:`dialogs` collects any alert/confirm the page
    raised (a test of escaping wants it empty); :attr:`ws_bytes` counts bytes received on
    the page's websockets (the kernel channel), to measure what a widget sends.
    """

    def __init__(self, server: JupyterLabServer, context, path: Path):
        self.server = server
        self.path = Path(path)
        self.name = self.path.relative_to(server.root).as_posix()
        self.page = context.new_page()
        self.dialogs: list[str] = []
        self.ws_bytes = 0
        self.console: list[str] = []
        self.kernel_id: str | None = None
        self._client = None
        self.page.on("dialog", self._on_dialog)
        self.page.on("websocket", self._on_websocket)
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _on_websocket(self, ws) -> None:
        def count(payload):
            self.ws_bytes += len(payload)
        ws.on("framereceived", count)

    # -- opening and running -----------------------------------------------------------------
    def open(self, timeout: float = 60.0) -> Notebook:
        """Load the notebook page and wait until its one kernel is idle and connected."""
        # ?reset: start from an empty workspace, not with the notebooks of earlier tests open.
        self.page.goto(f"{self.server.url}/lab/tree/{self.name}?reset", wait_until="domcontentloaded")
        self.page.wait_for_selector(f"{PANEL} .jp-Notebook", timeout=timeout * 1000)
        self.wait_kernel_idle(timeout)
        return self

    def _session_kernel(self) -> dict | None:
        for s in self.server.api("api/sessions"):
            if s.get("path") == self.name and s.get("kernel"):
                return s["kernel"]
        return None

    def wait_kernel_idle(self, timeout: float = 60.0) -> None:
        """The careful wait: the server reports this notebook's kernel idle with a
        connection, the toolbar says idle, no dialog is open; then 300 ms more."""
        def ready():
            kernel = self._session_kernel()
            if not kernel or kernel.get("execution_state") != "idle" or kernel.get("connections", 0) < 1:
                return False
            if self.page.locator(".jp-Dialog").count():
                return False
            status = self.page.evaluate("""() => {
                const el = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
                return el ? (el.getAttribute('data-status') || '') : '';
            }""")
            if status and status != "idle":
                return False
            self.kernel_id = kernel["id"]
            return True
        wait_until(ready, timeout, 0.2, f"an idle kernel for {self.name}")
        self.page.wait_for_timeout(300)

    def run_all(self, timeout: float = 120.0) -> None:
        """Run every cell (``runmenu:run-all``) and wait until all have run."""
        n = self.page.locator(f"{PANEL} .jp-CodeCell").count()
        self.page.evaluate("() => window.jupyterapp.commands.execute('runmenu:run-all')")

        def done():
            prompts = self.page.locator(f"{PANEL} .jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
            ran = [p for p in prompts if p.strip().startswith("[") and "*" not in p and p.strip() != "[ ]:"]
            return len(ran) >= n
        try:
            wait_until(done, timeout, 0.25, "all cells to run")
        except HarnessError as e:
            prompts = self.page.locator(f"{PANEL} .jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
            shot = self.server.home / f"{self.path.stem}-timeout.png"
            self.page.screenshot(path=str(shot), full_page=True)
            raise HarnessError(f"{e}; prompts {prompts}; screenshot {shot}") from None
        errors = self.page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
        if tracebacks:
            raise HarnessError("a cell raised:\n" + "\n".join(tracebacks)[-3000:])

    # -- reading the kernel --------------------------------------------------------------------
    def _kernel_client(self):
        if self._client is None:
            from jupyter_client import BlockingKernelClient

            if self.kernel_id is None:
                self.wait_kernel_idle()
            connection = self.server.runtime_dir / f"kernel-{self.kernel_id}.json"
            wait_until(connection.exists, 10, 0.1, f"{connection}")
            client = BlockingKernelClient()
            client.load_connection_file(str(connection))
            client.start_channels()
            client.wait_for_ready(timeout=30)
            self._client = client
        return self._client

    def kernel_eval(self, expression: str, timeout: float = 30.0):
        """Evaluate ``expression`` in the notebook's kernel and return its value, which must
        be JSON-able (it travels as JSON). Runs after the widget messages already queued."""
        client = self._kernel_client()
        code = f"import json as _json\n_mm_probe = _json.dumps({expression})"
        msg_id = client.execute(code, silent=True, store_history=False,
                                user_expressions={"v": "_mm_probe"})
        deadline = time.monotonic() + timeout
        while True:
            reply = client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        content = reply["content"]
        if content.get("status") != "ok":
            raise HarnessError(f"kernel_eval({expression!r}) failed: {content.get('ename')}: "
                               f"{content.get('evalue')}")
        value = content["user_expressions"]["v"]
        if value.get("status") != "ok":
            raise HarnessError(f"kernel_eval({expression!r}) failed: {value}")
        import ast

        return json.loads(ast.literal_eval(value["data"]["text/plain"]))

    def wait_kernel(self, expression: str, predicate: Callable[[object], bool] = bool,
                    timeout: float = 10.0):
        """Poll :meth:`kernel_eval` until ``predicate(value)`` holds; return the value."""
        box: dict = {}

        def check():
            box["v"] = self.kernel_eval(expression)
            return predicate(box["v"])
        wait_until(check, timeout, 0.1, f"kernel: {expression}")
        return box["v"]

    # -- closing -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the kernel client and the kernel, close the page."""
        if self._client is not None:
            self._client.stop_channels()
            self._client = None
        if self.kernel_id is not None:
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                self.server.api(f"api/kernels/{self.kernel_id}", method="DELETE")
        self.page.close()


# -- page helpers --------------------------------------------------------------------------------
def drag(page, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    """Press the left button at ``start``, move to ``end`` in ``steps``, release (page pixels)."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def wait_image_loaded(image, timeout: float = 10.0) -> None:
    """Wait until a Playwright ``<img>`` locator has a decoded image."""
    image.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                                 arg=image.element_handle(), timeout=timeout * 1000)


def publish_screenshot(path: Path, name: str) -> Path:
    """Copy a screenshot the test took to ``docs/img/name`` for the README, but only under
    ``make screenshots`` (``MM_SCREENSHOTS=1``): ``make test`` leaves tracked files alone."""
    import os
    import shutil

    if not os.environ.get("MM_SCREENSHOTS"):
        return Path(path)
    docs = Path(__file__).resolve().parents[2] / "docs" / "img"
    docs.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(path, docs / name))
