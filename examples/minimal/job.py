# Code an agent would send to a session: it runs with `artifacts` (and later `tools`, `skills`,
# `deps`) already injected. Run it with:  py-code-mode run examples/minimal/job.py --base .demo
import statistics

readings = [12.5, 13.1, 12.9, 14.2, 13.7]
summary = {
    "count": len(readings),
    "mean": round(statistics.mean(readings), 3),
    "stdev": round(statistics.stdev(readings), 3),
}
print("computed", summary)

# Artifacts outlive the session: the next run (or another agent) can load them.
runs = artifacts.load("runs.json", default=[])
runs.append(summary)
artifacts.save("runs.json", runs, description="summaries of every demo run")
print(f"stored {len(runs)} run(s) in artifacts/runs.json")

summary
