"""The driver of scripts/bench-flux.sh: ordo and Flux side by side on the same cluster, the same
git repository served over smart HTTP on loopback, the same N apps.

    python3 scripts/bench_flux_lib.py serve-git ROOT PORT    smart HTTP git server (git http-backend)
    python3 scripts/bench_flux_lib.py bench [options]         the benchmark (see bench-flux.sh)

For each N: a repository with apps/app-<i>/ (ServiceAccount, Deployment, Service, Ingress), then
Flux (source-controller and kustomize-controller as local processes, one GitRepository, N
Kustomizations), torn down, then `ordo run` with N apps on the same repository, torn down.
Measured per tool: time from process start to all N Ready, CPU seconds and API requests until
then, peak and steady RSS, CPU and API requests per minute at steady state, push-to-synced.
"""
import argparse, hashlib, hmac, json, os, signal, shutil, socket, statistics, subprocess, sys, threading, time
import urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NS = "bench"  # every app's objects, the GitRepository and the Kustomizations (as Flux's own benchmark)
REV_KEY = "bench.ordo.dev/rev"  # the Deployment annotation the push phase changes
CLK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[bench-flux {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fail(msg):
    raise SystemExit(f"bench-flux: error: {msg}")


class TimedOut(Exception):
    """A wait that ran out: fatal unless the caller records it as a figure not reached."""


def run(*args, cwd=None, check=True, input=None, timeout=300):
    p = subprocess.run(args, cwd=cwd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        fail(f"{' '.join(args[:6])}... exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p.stdout.strip()


def wait_until(what, timeout, check, interval=0.2, alive=None):
    """Polls check() until it returns something truthy; fails after timeout seconds, or at once
    when alive() says a process we depend on has died."""
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        if alive is not None:
            dead = alive()
            if dead:
                fail(f"{dead} while waiting for {what}")
        if time.time() > deadline:
            raise TimedOut(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# smart HTTP git server: `git http-backend` as CGI behind a threaded http.server, loopback only

class GitHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection; the body ends at close
    root = "."

    def do_GET(self):
        self.cgi()

    def do_POST(self):
        self.cgi()

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def cgi(self):
        path, _, query = self.path.partition("?")
        body = self.read_body() if self.command == "POST" else b""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": self.root,
               "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": self.command, "PATH_INFO": path,
               "QUERY_STRING": query, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": self.client_address[0],
               "SERVER_PROTOCOL": "HTTP/1.0", "GATEWAY_INTERFACE": "CGI/1.1"}
        for header, var in (("Git-Protocol", "GIT_PROTOCOL"), ("Content-Encoding", "HTTP_CONTENT_ENCODING")):
            if self.headers.get(header):
                env[var] = self.headers[header]
        try:
            p = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            self.send_error(504, "git http-backend timed out")
            return
        head, sep, payload = p.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = p.stdout.partition(b"\n\n")
        if not sep:
            self.send_error(500, f"git http-backend: {p.stderr.decode(errors='replace')[-300:]}")
            return
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))


def serve_git(root, port):
    GitHandler.root = os.path.abspath(root)
    ThreadingHTTPServer.request_queue_size = 1024  # 1,000 apps may ask at once: no dropped SYNs
    server = ThreadingHTTPServer(("127.0.0.1", int(port)), GitHandler)
    server.daemon_threads = True
    def stop(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------------------------------------
# processes and their /proc figures

class Proc:
    def __init__(self, name, argv, log_path, env=None):
        self.name, self.log_path = name, log_path
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(log_path, "ab"),
                                      stderr=subprocess.STDOUT, env=env)
        self.pid = self.popen.pid

    def dead(self):
        if self.popen.poll() is None:
            return None
        return f"{self.name} exited with {self.popen.returncode} (log: {self.log_path})"

    def cpu(self):
        """utime + stime, plus the same of its waited-for children (ordo's render tools, if
        any), in seconds."""
        fields = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
        return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK

    def status_mib(self, key):
        for line in open(f"/proc/{self.pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self, grace=60, under=None):
        """`under`: the program's path when it runs under a wrapper (a profiler), which is
        then left to finish its output once the program has ended on SIGTERM."""
        if under and self.popen.poll() is None:
            for child in descendants(self.pid):
                try:
                    argv0 = open(f"/proc/{child}/cmdline", "rb").read().split(b"\0")[0].decode()
                except OSError:
                    continue
                if argv0 == under:
                    os.kill(child, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for {grace} s; killing it")
                self.popen.kill()
                self.popen.wait(timeout=30)


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(k) for k in open(f"/proc/{p}/task/{p}/children").read().split()]
        except OSError:
            kids = []
        found += kids
        todo += kids
    return found


def procs_sum(procs, fn):
    return sum(fn(p) for p in procs)


def scrape(url, metric):
    """The sum of every sample of `metric` on a Prometheus/OpenMetrics text page."""
    try:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
    except (urllib.error.URLError, ConnectionError, OSError) as e:
        fail(f"cannot read {url}: {e}")
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(metric + "{") or line.startswith(metric + " "):
            total += float(line.rsplit(None, 1)[1] if "}" not in line else line.rsplit("}", 1)[1].split()[0])
            found = True
    if not found:
        fail(f"no {metric} on {url}")
    return total


def samples(urls, metric):
    """Every sample of `metric` on the pages at `urls`, by its labels (summed over the pages)."""
    out = {}
    for url in urls:
        try:
            text = urllib.request.urlopen(url, timeout=10).read().decode()
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            fail(f"cannot read {url}: {e}")
        for line in text.splitlines():
            if line.startswith(metric + "{"):
                labels, value = line[len(metric):].rsplit("}", 1)
                out[labels + "}"] = out.get(labels + "}", 0.0) + float(value.split()[0])
    return out


class Watch:
    """`kubectl get ... --watch -o jsonpath=...` in the background: one line per event, kept
    by its first word, with the arrival time. Cheaper than polling the API server."""

    def __init__(self, kubectl, args, template, log_path):
        self.argv = [kubectl, "get", *args, "--watch", "--request-timeout=0", "-o", f"jsonpath={template}\n"]
        self.log_path, self.state, self.lock, self.stopped = log_path, {}, threading.Lock(), False
        self.start()

    def start(self):
        self.popen = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=open(self.log_path, "ab"),
                                      stdin=subprocess.DEVNULL, text=True)
        threading.Thread(target=self.read, args=(self.popen,), daemon=True).start()

    def read(self, popen):
        for line in popen.stdout:
            words = line.split()
            if words:
                with self.lock:
                    self.state[words[0]] = (words[1:], time.time())
        if not self.stopped:  # the watch ended (server timeout, API hiccup): start again
            time.sleep(0.5)
            if not self.stopped:
                self.start()

    def snapshot(self):
        with self.lock:
            return dict(self.state)

    def stop(self):
        self.stopped = True
        self.popen.terminate()
        self.popen.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# the repository

def app_manifest(i, rev):
    name = f"app-{i}"
    return f"""apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  annotations:
    {REV_KEY}: "{rev}"
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      serviceAccountName: {name}
      containers:
      - name: app
        image: example/app:1
        ports: [{{containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
spec:
  rules:
  - host: {name}.bench.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: {name}
            port: {{number: 80}}
"""


class Repo:
    def __init__(self, work, git_root, port, n):
        self.name = f"bench-{n}.git"
        self.bare = f"{git_root}/{self.name}"
        self.clone = f"{work}/clone-{n}"
        self.url = f"http://127.0.0.1:{port}/{self.name}"
        self.n = n
        shutil.rmtree(self.bare, ignore_errors=True)
        shutil.rmtree(self.clone, ignore_errors=True)
        run("git", "init", "-q", "--bare", "-b", "main", self.bare)
        run("git", "clone", "-q", self.bare, self.clone)
        for i in range(n):
            os.makedirs(f"{self.clone}/apps/app-{i}")
            with open(f"{self.clone}/apps/app-{i}/app.yaml", "w") as f:
                f.write(app_manifest(i, 0))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", f"{n} apps")
        self.git("push", "-q", "origin", "HEAD:main")
        self.rev = 0

    def git(self, *args):
        return run("git", "-c", "user.name=bench", "-c", "user.email=bench@example.org", *args, cwd=self.clone)

    def head(self):
        return self.git("rev-parse", "HEAD")

    def push_change(self):
        """Changes app-0's Deployment annotation and pushes; returns the new revision number."""
        self.rev += 1
        with open(f"{self.clone}/apps/app-0/app.yaml", "w") as f:
            f.write(app_manifest(0, self.rev))
        self.git("commit", "-q", "-am", f"app-0 rev {self.rev}")
        self.git("push", "-q", "origin", "HEAD:main")
        return self.rev


# ---------------------------------------------------------------------------------------------
# the benchmark

class Bench:
    def __init__(self, a):
        self.a = a
        self.kubectl = a.kubectl
        self.work = a.work
        self.procs = []  # everything to stop on the way out
        os.makedirs(f"{self.work}/git", exist_ok=True)
        self.git_port = a.port_base
        self.ports = {"source-metrics": a.port_base + 1, "source-health": a.port_base + 2,
                      "source-storage": a.port_base + 3, "kustomize-metrics": a.port_base + 4,
                      "kustomize-health": a.port_base + 5, "ordo": a.port_base + 6}

    def kc(self, *args, **kw):
        return run(self.kubectl, *args, **kw)

    # --- cluster objects ---

    def install_crds(self):
        for d in self.a.crds:
            self.kc("apply", "--server-side", "--force-conflicts", "-f", d, timeout=120)
        self.kc("wait", "--for=condition=Established", "--timeout=60s",
                "crd/gitrepositories.source.toolkit.fluxcd.io", "crd/kustomizations.kustomize.toolkit.fluxcd.io")

    def fresh_namespace(self):
        self.delete_namespace()
        self.kc("create", "namespace", NS)

    def delete_namespace(self):
        if self.kc("get", "namespace", NS, "--ignore-not-found", "-o", "name"):
            self.kc("delete", "namespace", NS, "--wait=false")
            wait_until(f"namespace {NS} to be deleted", 600,
                       lambda: not self.kc("get", "namespace", NS, "--ignore-not-found", "-o", "name"), interval=1)

    # --- the git server ---

    def start_git_server(self):
        p = Proc("git server", [sys.executable, os.path.abspath(__file__), "serve-git", f"{self.work}/git",
                                str(self.git_port)], f"{self.work}/git-server.log")
        self.procs.append(p)
        self.git_server = p
        wait_until(f"the git server on 127.0.0.1:{self.git_port}", 20, lambda: port_open(self.git_port), alive=p.dead)

    # --- Flux ---

    def flux_objects(self, repo):
        docs = [f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: bench, namespace: {NS}}}
spec:
  interval: 1m
  url: {repo.url}
  ref: {{branch: main}}
"""]
        for i in range(repo.n):
            docs.append(f"""apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: app-{i}, namespace: {NS}}}
spec:
  interval: 10m
  timeout: 5m
  path: ./apps/app-{i}
  prune: true
  wait: true
  targetNamespace: {NS}
  sourceRef: {{kind: GitRepository, name: bench}}
""")
        return "---\n".join(docs)

    def run_flux(self, repo):
        n, head = repo.n, repo.head()
        self.fresh_namespace()
        path = f"{self.work}/flux-{n}.yaml"
        with open(path, "w") as f:
            f.write(self.flux_objects(repo))
        self.kc("create", "-f", path, timeout=600)
        log(f"flux: created GitRepository and {n} Kustomizations; starting the controllers")
        storage = f"{self.work}/flux-storage-{n}"
        shutil.rmtree(storage, ignore_errors=True)
        os.makedirs(storage)
        env = dict(os.environ, RUNTIME_NAMESPACE=NS)
        common = ["--watch-all-namespaces=true", "--enable-leader-election=false", "--log-level=info",
                  "--log-encoding=json", "--events-addr="]
        if self.a.flux_ks_concurrent:
            ks_extra = [f"--concurrent={self.a.flux_ks_concurrent}"]
        else:
            ks_extra = []
        p = self.ports
        watch = Watch(self.kubectl, ["kustomizations.kustomize.toolkit.fluxcd.io", "-n", NS],
                      '{.metadata.name} {.status.lastAppliedRevision} {.status.conditions[?(@.type=="Ready")].status}',
                      f"{self.work}/flux-watch-{n}.log")
        t0 = time.time()
        src = Proc("source-controller", [f"{self.a.flux_bin}/source-controller", *common,
                                         f"--metrics-addr=127.0.0.1:{p['source-metrics']}",
                                         f"--health-addr=127.0.0.1:{p['source-health']}",
                                         f"--storage-path={storage}",
                                         f"--storage-addr=127.0.0.1:{p['source-storage']}",
                                         f"--storage-adv-addr=127.0.0.1:{p['source-storage']}"],
                   f"{self.work}/source-controller-{n}.log", env=env)
        ks = Proc("kustomize-controller", [f"{self.a.flux_bin}/kustomize-controller", *common, *ks_extra,
                                           f"--metrics-addr=127.0.0.1:{p['kustomize-metrics']}",
                                           f"--health-addr=127.0.0.1:{p['kustomize-health']}"],
                  f"{self.work}/kustomize-controller-{n}.log", env=env)
        procs = [src, ks]
        self.procs += procs
        alive = lambda: src.dead() or ks.dead()
        metrics = [f"http://127.0.0.1:{p['source-metrics']}/metrics", f"http://127.0.0.1:{p['kustomize-metrics']}/metrics"]
        api = lambda: sum(scrape(u, "rest_client_requests_total") for u in metrics)

        def ready_at(sha):
            # Sticky: a Kustomization counts once it has been Ready at `sha`. At 1,000 on two
            # cores the controller re-reconciles the first ones (interval) before the last are
            # done, and each shows Ready=Unknown while it runs, so all N are never Ready at once.
            seen = set()

            def check():
                state = watch.snapshot()
                seen.update(name for name, (words, _) in state.items()
                            if len(words) == 2 and words[0].endswith(sha) and words[1] == "True")
                return len(seen) == n and state
            return check

        def ready_all(sha, what, timeout):
            return wait_until(what, timeout, ready_at(sha), alive=alive)

        def trigger():
            self.kc("annotate", "--overwrite", "-n", NS, "gitrepository/bench",
                    f"reconcile.fluxcd.io/requestedAt={time.time():.6f}")

        try:
            ready_all(head, f"{n} Kustomizations Ready at {head[:8]}", self.a.ready_timeout)
            res = self.measure_ready(t0, procs, api)
            log(f"flux: all {n} Ready in {res['ready_s']:.1f} s")
            self.measure_steady(res, procs, api, alive, lambda: samples(metrics, "rest_client_requests_total"))
            self.measure_pushes(res, repo, trigger, lambda sha, timeout: ready_all(sha, f"{n} Kustomizations at {sha[:8]}", timeout), alive)
            res["hwm_mib"] = procs_sum(procs, lambda q: q.status_mib("VmHWM"))
        finally:
            watch.stop()
            self.teardown_flux(procs)
        return res

    def teardown_flux(self, procs):
        log("flux: deleting the Kustomizations (pruning their objects) and the GitRepository")
        self.kc("delete", "kustomizations.kustomize.toolkit.fluxcd.io", "--all", "-n", NS, "--wait=false", check=False)
        self.kc("delete", "gitrepositories.source.toolkit.fluxcd.io", "--all", "-n", NS, "--wait=false", check=False)
        gone = lambda: not self.kc("get", "kustomizations.kustomize.toolkit.fluxcd.io,gitrepositories.source.toolkit.fluxcd.io",
                                   "-n", NS, "-o", "name", check=False)
        live = all(p.popen.poll() is None for p in procs)
        try:
            if live:
                wait_until("the Flux objects to be deleted", 600, gone, interval=1)
        except (SystemExit, TimedOut) as e:
            log(f"warning: {e}")
        if not gone():
            log("warning: Flux objects still there (a controller is down); removing their finalizers")
            for kind in ("kustomizations.kustomize.toolkit.fluxcd.io", "gitrepositories.source.toolkit.fluxcd.io"):
                for name in self.kc("get", kind, "-n", NS, "-o", "name", check=False).split():
                    self.kc("patch", "-n", NS, name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
        for p in procs:
            p.stop()
            self.procs.remove(p)
        self.delete_namespace()

    # --- ordo ---

    def start_blackhole(self):
        """A git server that accepts connections and never answers: what a hung remote does."""
        if getattr(self, "blackhole_port", None):
            return self.blackhole_port
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        held = []

        def hold():
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                held.append(conn)

        threading.Thread(target=hold, daemon=True).start()
        self.blackhole_port = sock.getsockname()[1]
        return self.blackhole_port

    def run_ordo(self, repo, broken=0):
        """`broken` more apps follow repositories that never answer (half) or do not exist
        (half): the N others must not be slowed."""
        n, head = repo.n, repo.head()
        self.fresh_namespace()
        self.delete_ordo_state(n)
        port = self.ports["ordo"]
        secret = hashlib.sha256(os.urandom(32)).hexdigest()
        with open(f"{self.work}/webhook-secret", "w") as f:
            f.write(secret)
        cache = f"{self.work}/ordo-cache-{n}"
        shutil.rmtree(cache, ignore_errors=True)
        cfg = f"{self.work}/ordo-{n}.yaml"
        with open(cfg, "w") as f:
            f.write(f"listen: 127.0.0.1:{port}\ncacheDir: {cache}\nwebhookSecretFile: {self.work}/webhook-secret\napps:\n")
            for i in range(n):
                f.write(f"  - name: app-{i}\n    repo: {repo.url}\n    ref: main\n    path: apps/app-{i}\n"
                        f"    namespace: {NS}\n    interval: 1m\n    timeout: 5m\n    prune: true\n")
            for j in range(broken):
                url = (f"http://127.0.0.1:{self.start_blackhole()}/never-{j}.git" if j % 2 == 0
                       else repo.url.replace(f"bench-{n}.git", f"missing-{j}.git"))
                f.write(f"  - name: broken-{j}\n    repo: {url}\n    ref: main\n    path: apps/app-0\n"
                        f"    namespace: {NS}\n    interval: 1m\n    timeout: 5m\n")
        base = f"http://127.0.0.1:{port}"
        t0 = time.time()
        agent = Proc("ordo", self.a.ordo_under.split() + [self.a.ordo, "run", "--config", cfg, "--log-format", "json"],
                     f"{self.work}/ordo-{n}.log")
        self.procs.append(agent)
        procs = [agent]
        api = lambda: scrape(f"{base}/metrics", "ordo_kube_requests_total")

        def ready_at(sha):
            seen = set()  # sticky, as for Flux

            def check():
                try:
                    apps = json.load(urllib.request.urlopen(f"{base}/api/v1/apps", timeout=30))["apps"]
                except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                    return False
                seen.update(app.get("name") for app in apps
                            if app.get("syncStatus") == "Synced" and app.get("health") == "Healthy"
                            and (app.get("revision") or {}).get("sha") == sha
                            and not app.get("name", "").startswith("broken-"))
                return len(seen) == n
            return check

        def ready_all(sha, what, timeout):
            return wait_until(what, timeout, ready_at(sha), interval=1.0, alive=agent.dead)

        def trigger():
            body = json.dumps({"repo": repo.url, "ref": "main"}).encode()
            sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            req = urllib.request.Request(f"{base}/api/v1/webhook", data=body, method="POST",
                                         headers={"Content-Type": "application/json", "X-Ordo-Signature": sig})
            reply = json.load(urllib.request.urlopen(req, timeout=30))
            if len(reply.get("triggered", [])) != n:
                fail(f"the webhook triggered {len(reply.get('triggered', []))} apps, not {n}: {reply}")

        try:
            ready_all(head, f"{n} ordo apps Synced and Healthy at {head[:8]}", self.a.ready_timeout)
            res = self.measure_ready(t0, procs, api)
            log(f"ordo: all {n} Synced and Healthy in {res['ready_s']:.1f} s"
                + (f" ({broken} more apps on broken repositories)" if broken else ""))
            if broken:
                return res
            self.measure_steady(res, procs, api, agent.dead,
                                lambda: samples([f"{base}/metrics"], "ordo_kube_requests_total"))
            self.measure_pushes(res, repo, trigger, lambda sha, timeout: ready_all(sha, f"{n} ordo apps at {sha[:8]}", timeout), agent.dead)
            res["hwm_mib"] = agent.status_mib("VmHWM")
        finally:
            log("ordo: stopping the agent, deleting what it applied")
            agent.stop(under=self.a.ordo if self.a.ordo_under else None)
            self.procs.remove(agent)
            self.delete_namespace()
            self.delete_ordo_state(n)
        return res

    def delete_ordo_state(self, n):
        """ordo keeps each app's history in the ConfigMap ordo-<app>-state of its own namespace
        (outside a pod: default)."""
        names = [f"ordo-app-{i}-state" for i in range(n)]
        for i in range(0, len(names), 200):
            self.kc("delete", "configmap", "-n", "default", "--ignore-not-found", "--wait=false", *names[i:i + 200])

    # --- the measurements both share ---

    def measure_ready(self, t0, procs, api):
        return {"ready_s": time.time() - t0, "ready_cpu_s": procs_sum(procs, Proc.cpu), "ready_api": api(),
                "ready_hwm_mib": procs_sum(procs, lambda q: q.status_mib("VmHWM"))}

    def measure_steady(self, res, procs, api, alive, by_label=None):
        """Nothing changes for `settle` seconds, then CPU and API requests are counted over a
        `window` of seconds; the RSS is read at its end. The sleeps are the measurement itself."""
        log(f"steady state: {self.a.settle:.0f} s of nothing changing, then a {self.a.window:.0f} s window")
        time.sleep(self.a.settle)
        dead = alive()
        if dead:
            fail(dead)
        cpu0, api0, git0, w0 = procs_sum(procs, Proc.cpu), api(), self.git_requests(), time.time()
        labels0 = by_label() if by_label else {}
        time.sleep(self.a.window)
        dead = alive()
        if dead:
            fail(dead)
        minutes = (time.time() - w0) / 60
        res["steady_cpu_s_min"] = (procs_sum(procs, Proc.cpu) - cpu0) / minutes
        res["steady_api_min"] = (api() - api0) / minutes
        res["steady_git_min"] = (self.git_requests() - git0) / minutes
        res["steady_rss_mib"] = procs_sum(procs, lambda q: q.status_mib("VmRSS"))
        if by_label:  # which requests the steady ones were
            res["steady_api_by_label"] = {k: v - labels0.get(k, 0.0) for k, v in by_label().items()
                                          if v - labels0.get(k, 0.0) > 0}

    def measure_pushes(self, res, repo, trigger, wait_all, alive):
        """Each push changes app-0's Deployment annotation; the tool is told at once, as a git
        host's webhook would (Flux: the GitRepository's requestedAt annotation, what
        notification-controller's Receiver sets; ordo: its signed webhook). Measured from the
        push returning to the live Deployment carrying the new value (seen by a watch), and to
        every app reporting the new revision Ready."""
        one, every = [], []
        res["push_one_s"] = res["push_all_s"] = None
        watch = Watch(self.kubectl, ["deployment", "app-0", "-n", NS],
                      "{.metadata.name} {.metadata.annotations." + REV_KEY.replace(".", "\\.") + "}",
                      f"{self.work}/push-watch.log")
        try:
            for _ in range(self.a.pushes):
                rev = repo.push_change()
                pushed = time.time()
                trigger()
                got = wait_until(f"app-0 to show {REV_KEY}={rev}", self.a.ready_timeout, lambda: (
                    lambda s: s and s[0] == [str(rev)] and s[1])(watch.snapshot().get("app-0")), interval=0.01, alive=alive)
                one.append(max(0.0, got - pushed))
                wait_all(repo.head(), self.a.ready_timeout)
                every.append(time.time() - pushed)
                log(f"push {rev}: app-0 live after {one[-1]:.2f} s, all {repo.n} apps at the new revision after {every[-1]:.1f} s")
        except TimedOut as e:
            log(f"warning: {e}; the push figures are left out")
            res["push_timed_out"] = str(e)
        finally:
            watch.stop()
        if one:
            res["push_one_s"] = statistics.median(one)
        if every:
            res["push_all_s"] = statistics.median(every)

    def git_requests(self):
        """Ref advertisements served so far (one per ls-remote or fetch), from the server's log."""
        with open(self.git_server.log_path, errors="replace") as f:
            return sum(1 for line in f if "/info/refs?service=git-upload-pack" in line)

    def stop_all(self):
        for p in reversed(self.procs):
            p.stop(grace=30)
        self.procs = []


def port_open(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------------------------------------
# the report

ROWS = [  # key, label, format
    ("ready_s", "time from start until each of the N has been Ready at the head (s)", "{:.1f}"),
    ("ready_cpu_s", "CPU until all Ready (s)", "{:.1f}"),
    ("ready_api", "API requests until all Ready", "{:.0f}"),
    ("hwm_mib", "peak RSS, VmHWM (MiB)", "{:.0f}"),
    ("steady_rss_mib", "steady RSS, VmRSS (MiB)", "{:.0f}"),
    ("steady_cpu_s_min", "steady CPU (s per minute)", "{:.2f}"),
    ("steady_api_min", "steady API requests per minute", "{:.0f}"),
    ("steady_git_min", "steady git requests per minute (ref listings served)", "{:.0f}"),
    ("push_one_s", "push to app-0 live (s, median)", "{:.2f}"),
    ("push_all_s", "push to all N at the new revision (s, median)", "{:.1f}"),
]


def table(results, a):
    out = [f"# ordo vs Flux ({a.flux_version}), {time.strftime('%Y-%m-%d %H:%M')}", "",
           f"Machine: {os.cpu_count()} cores; local control plane (kwok nodes). One git repository over smart "
           f"HTTP on loopback; N apps `apps/app-<i>/` of 4 objects (ServiceAccount, Deployment, Service, "
           f"Ingress), all in namespace `{NS}`, as in Flux's own benchmark.",
           f"Flux: source-controller and kustomize-controller as local processes (figures summed), one "
           f"GitRepository (interval 1m), N Kustomizations (wait, prune, interval 10m); controller "
           f"concurrency {'--concurrent=' + str(a.flux_ks_concurrent) if a.flux_ks_concurrent else 'as shipped (source 2, kustomize 4)'}. "
           f"ordo: `ordo run`, N apps (interval 1m, prune, health-gated as always).",
           f"Start: process start (the Flux objects exist before the controllers start). Steady state: "
           f"{a.settle:.0f} s idle, then a {a.window:.0f} s window. Push: app-0's Deployment annotation "
           f"changed, {a.pushes} pushes, each followed at once by the tool's webhook-style trigger (Flux: "
           f"`reconcile.fluxcd.io/requestedAt` on the GitRepository, set with kubectl, whose ~0.1 s start-up "
           f"Flux's figures include; ordo: its signed "
           f"`POST /api/v1/webhook`); every app follows the one repository, so each push reconciles all N. "
           f"CPU: utime+stime (+ waited children) from /proc. API requests: Flux `rest_client_requests_total`, "
           f"ordo `ordo_kube_requests_total`. Flux's peak RSS is the sum of both controllers' peaks.", ""]
    for n in sorted(results):
        r = results[n]
        out += [f"## N = {n}", "", "| metric | ordo | Flux | ordo/Flux |", "|---|---:|---:|---:|"]
        for key, label, fmt in ROWS:
            o, f = r["ordo"].get(key), r["flux"].get(key)
            ratio = f"{o / f:.2f}" if o is not None and f else "–"
            out.append(f"| {label} | {fmt.format(o) if o is not None else '–'} | "
                       f"{fmt.format(f) if f is not None else '–'} | {ratio} |")
        if "ordo_broken" in r:
            k = a.broken
            out += ["", f"ordo with {k} more apps whose repositories never answer ({(k + 1) // 2}) or do not "
                        f"exist ({k // 2}): the {n} others all Ready in {r['ordo_broken']['ready_s']:.1f} s "
                        f"(without them: {r['ordo']['ready_s']:.1f} s), {r['ordo_broken']['ready_api']} API requests."]
        out.append("")
    return "\n".join(out)


def bench(a):
    b = Bench(a)
    results = {}
    try:
        b.install_crds()
        b.start_git_server()
        for n in a.sizes:
            log(f"N = {n}: writing the repository")
            repo = Repo(a.work, f"{a.work}/git", b.git_port, n)
            run("git", "ls-remote", repo.url, timeout=30)  # the server answers for this repository
            results[n] = {"ordo": {}, "flux": {}}

            def keep():  # after each tool: a later failure loses nothing measured
                with open(f"{a.work}/results.json", "w") as f:
                    json.dump(results, f, indent=1)
                report = table(results, a)
                os.makedirs(os.path.dirname(a.out), exist_ok=True)
                with open(a.out, "w") as f:
                    f.write(report + "\n")
                return report
            results[n]["ordo"] = b.run_ordo(repo)
            report = keep()
            if a.broken and n == max(a.sizes):
                results[n]["ordo_broken"] = b.run_ordo(repo, broken=a.broken)
                report = keep()
            if not a.skip_flux:
                results[n]["flux"] = b.run_flux(repo)
                report = keep()
    finally:
        b.stop_all()
    print(report)
    log(f"written to {a.out} (raw figures: {a.work}/results.json)")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "serve-git":
        return serve_git(sys.argv[2], sys.argv[3])
    p = argparse.ArgumentParser(prog="bench_flux_lib.py bench")
    p.add_argument("cmd", choices=["bench"])
    p.add_argument("--ordo", required=True)
    p.add_argument("--kubectl", required=True)
    p.add_argument("--flux-bin", required=True)
    p.add_argument("--flux-version", required=True)
    p.add_argument("--crds", nargs="+", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--port-base", type=int, default=28100)
    p.add_argument("--settle", type=float, default=60)
    p.add_argument("--window", type=float, default=60)
    p.add_argument("--pushes", type=int, default=3)
    p.add_argument("--ready-timeout", type=float, default=0, help="default max(600, 2 s per app)")
    p.add_argument("--flux-ks-concurrent", type=int, default=0, help="kustomize-controller --concurrent (0: its default)")
    p.add_argument("--skip-flux", action="store_true", help="ordo only (Flux's figures taken in another run)")
    p.add_argument("--ordo-under", default="", help="a command ordo runs under (a profiler); split on spaces")
    p.add_argument("--broken", type=int, default=0, help="at the largest N, one more ordo run with this many apps on broken repositories")
    p.add_argument("sizes", type=int, nargs="+")
    a = p.parse_args()
    a.ready_timeout = a.ready_timeout or max(600, 2 * max(a.sizes))
    # Ctrl-C or SIGTERM: stop what was started, delete what was created (even where the shell
    # that started us left SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        bench(a)
    except KeyboardInterrupt:
        raise SystemExit("bench-flux: interrupted; what was started is stopped")
    except TimedOut as e:
        raise SystemExit(f"bench-flux: error: {e}")


if __name__ == "__main__":
    main()
