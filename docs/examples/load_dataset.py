"""Load a TwinFlow dataset (docs/datasets.md) from Python.

Parquet: needs pandas and pyarrow (pip install pandas pyarrow).
RouteNet layout: needs BNN-UPC's datanetAPI (master) and its requirements (networkx,
numpy): put datanetAPI.py next to this script or on PYTHONPATH.

    python3 docs/examples/load_dataset.py ds/
"""
import math
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "ds"

# --- Parquet: three tables, one file per scenario under parquet/<table>/ ---
import pandas as pd

flows = pd.read_parquet(f"{root}/parquet/flows")
links = pd.read_parquet(f"{root}/parquet/links")
samples = pd.read_parquet(f"{root}/parquet/samples")
print(samples.head())
print("flows:", len(flows), "rows; mean rate/demand:",
      (flows.rate_gbps / flows.demand_gbps).mean())
# delay, jitter and loss come from the queueing model with `labels.queue` in the spec;
# without it they are absent (null), never zero
if flows.delay_ms.notna().any():
    print("mean predicted delay (ms):", flows.delay_ms.mean())
else:
    print("no delay labels (the spec did not ask for labels.queue)")
print("bottlenecked links per sample:",
      links[links.bottleneck_level > 0].groupby("sample").size().mean())
# measured labels (spec "emulate", schema version 2): null unless the sample was run
# in the netns sandbox (samples.label_source == "model+emulation")
if "emulated_rate_gbps" in flows:
    emu = flows.dropna(subset=["emulated_rate_gbps"])
    if len(emu):
        err = (emu.emulated_rate_gbps - emu.elastic_rate_gbps).abs() / emu.elastic_rate_gbps
        print("emulated flows:", len(emu), "median |measured - max-min| / max-min:", err.median())

# --- RouteNet / datanetAPI layout under routenet/ ---
import datanetAPI

reader = datanetAPI.DatanetAPI(f"{root}/routenet", [], False)
for i, s in enumerate(iter(reader)):
    g = s.get_topology_object()
    tm = s.get_traffic_matrix()
    perf = s.get_performance_matrix()
    route = s.get_routing_matrix()
    n = s.get_network_size()
    src, dst = next((a, b) for a in range(n) for b in range(n) if len(route[a, b]) > 1)
    carried_bps = tm[src, dst]["AggInfo"]["AvgBw"]          # max-min rate (bottleneck model)
    offered_bps = tm[src, dst]["Flows"][0]["TimeDistParams"]["EqLambda"]
    delay = perf[src, dst]["AggInfo"]["AvgDelay"]           # NaN: absent
    print(f"sample {i}: {n} nodes, {g.number_of_edges()} links, pair {src}->{dst} path {route[src, dst]} "
          f"carried {carried_bps:.3g} of {offered_bps:.3g} b/s, delay absent={math.isnan(delay)}")
    if i == 2:
        break
