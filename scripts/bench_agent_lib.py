"""What scripts/bench-agent.sh and scripts/bench-http.sh share: a local git repository of
generated manifests with a `marker` ConfigMap, an `ordo run` following it (interval 1s), and
the time from a push to the new marker value being readable from the API server."""
import os, statistics, subprocess, sys, tempfile, time


def run(*args, cwd=None, check=True):
    return subprocess.run(args, cwd=cwd, check=check, capture_output=True, text=True).stdout.strip()


class Bench:
    def __init__(self, name, ordo, kubectl, manifests, settings):
        """`manifests(app)`: the YAML documents besides the Namespace and the marker;
        `settings`: extra app keys of the agent's config, one `key: value` per line."""
        self.name, self.kubectl, self.manifests = name, kubectl, manifests
        self.work = tempfile.mkdtemp(prefix=f"ordo-{name}-")
        self.app = f"{name}-{int(time.time())}"
        self.bare, self.clone = f"{self.work}/repo.git", f"{self.work}/work"
        self.marker = 0
        run("git", "init", "-q", "--bare", "-b", "main", self.bare)
        run("git", "clone", "-q", self.bare, self.clone)
        self.write("0")
        self.git("add", "-A"); self.git("commit", "-q", "-m", "initial"); self.git("push", "-q", "origin", "HEAD:main")
        config = f"{self.work}/ordo.yaml"
        extra = "".join(f"    {line}\n" for line in settings)
        with open(config, "w") as f:
            f.write(f"listen: 127.0.0.1:0\ncacheDir: {self.work}/cache\napps:\n  - name: {self.app}\n    repo: {self.bare}\n"
                    f"    ref: main\n    namespace: {self.app}\n    allow: {{clusterKinds: [Namespace]}}\n    interval: 1s\n{extra}")
        self.log_path = f"{self.work}/agent.log"
        self.agent = subprocess.Popen([ordo, "run", "--config", config, "--log-format", "json"],
                                      stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))

    def git(self, *args):
        return run("git", "-c", "user.name=bench", "-c", "user.email=bench@example.org", *args, cwd=self.clone)

    def write(self, marker):
        app = self.app
        docs = [f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {app}\n",
                f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: marker\n  namespace: {app}\ndata:\n  value: \"{marker}\"\n"]
        docs += self.manifests(app)
        os.makedirs(self.clone, exist_ok=True)
        for i in range(0, len(docs), 100):
            with open(f"{self.clone}/part-{i // 100:04d}.yaml", "w") as f:
                f.write("---\n".join(docs[i:i + 100]))

    def live_marker(self):
        return run(self.kubectl, "-n", self.app, "get", "cm", "marker", "-o", "jsonpath={.data.value}", check=False)

    def log(self):
        return open(self.log_path).read()

    def wait_first_sync(self, limit):
        started = time.time()
        while self.live_marker() != "0" or '"result":"Succeeded"' not in self.log().replace(" ", ""):
            if time.time() - started > limit:
                sys.exit(f"{self.name}: first sync did not finish in {limit} s")
            time.sleep(0.5)
        return time.time() - started

    def push_latencies(self, count):
        out = []
        for _ in range(count):
            self.marker += 1
            self.write(str(self.marker))
            self.git("commit", "-q", "-am", f"marker {self.marker}")
            self.git("push", "-q", "origin", "HEAD:main")
            pushed = time.time()
            while self.live_marker() != str(self.marker):
                if time.time() - pushed > 120:
                    sys.exit(f"{self.name}: push {self.marker} not synced in 120 s")
                time.sleep(0.02)
            out.append(time.time() - pushed)
            time.sleep(1.5)  # let that sync finish before the next push (pacing, not synchronisation)
        return out

    def stop(self):
        self.agent.terminate()
        self.agent.wait(timeout=30)


def describe(latencies):
    latencies = sorted(latencies)
    p90 = latencies[max(0, int(round(0.9 * len(latencies))) - 1)]
    return (f"median {statistics.median(latencies):.2f} s, p90 {p90:.2f} s, "
            f"min {latencies[0]:.2f} s, max {latencies[-1]:.2f} s")
