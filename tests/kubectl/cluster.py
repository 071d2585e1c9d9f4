"""A node-host in standalone mode for a test module: the control plane and
this machine as its node, with the Kubernetes API on a free local port and
a kubeconfig for the admin (context `tabernetes`) and the read-only viewer
(context `tabernetes-viewer`)."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KUBECTL = shutil.which("kubectl") or "kubectl"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tabernetes-kubectl-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.port = free_port()
        binary = os.environ.get("NODE_HOST_BIN", os.path.join(ROOT, "target", "debug", "node-host"))
        dist = os.environ.get("DIST_DIR", os.path.join(ROOT, "dist"))
        self.log = open(os.path.join(self.dir, "node-host.log"), "w")
        self.process = subprocess.Popen(
            [binary, "--dist", dist, "--name", "laptop", "standalone",
             "--listen", f"127.0.0.1:{self.port}", "--kubeconfig", self.kubeconfig,
             "--state", os.path.join(self.dir, "state.json")],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(self.kubeconfig) and self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0:
                break
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("node-host standalone did not become ready; log: " + self.read_log())
        self.wait_for(lambda: self.kubectl("get", "nodes", "-o", "name", check=False).stdout.strip() == "node/laptop", "the node to register")

    def read_log(self):
        with open(os.path.join(self.dir, "node-host.log")) as f:
            return f.read()

    def kubectl(self, *args, context=None, check=True, input=None, env=None, timeout=60):
        command = [KUBECTL, "--kubeconfig", self.kubeconfig]
        if context:
            command += ["--context", context]
        full_env = dict(os.environ, **(env or {}))
        # kubectl caches discovery per server; a fresh cache per cluster keeps runs independent.
        full_env["KUBECACHEDIR"] = os.path.join(self.dir, "cache")
        result = subprocess.run(command + list(args), capture_output=True, text=True, input=input, env=full_env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def json(self, *args, **kwargs):
        return json.loads(self.kubectl(*args, "-o", "json", **kwargs).stdout)

    def wait_for(self, predicate, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
