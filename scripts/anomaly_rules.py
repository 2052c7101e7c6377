#!/usr/bin/env python3
"""Writes dashboards/anomaly.rules.yml: anomaly warnings for every route,
operation, gRPC method and outbound dependency (rate, error ratio, p99
against their own baseline). The four families share one template; edit
it here and run `python3 scripts/anomaly_rules.py` (tests/it/dashboards.rs
checks the file is this script's output).
"""
import os

RUNBOOKS = "https://github.com/tailwatch/tailwatch/blob/main/docs/runbooks.md"
DASHBOARD = "http://localhost:3000/d/tailwatch-red/tailwatch"

FAMILIES = [
    # (alert prefix, rate, error ratio, p99, how an alert names it)
    ("HttpRoute", "route:http_server_requests:rate5m",
     "route:http_server_request_error_ratio:rate5m",
     "route:http_server_request_duration_seconds:p99_5m",
     "{{ $labels.http_request_method }} {{ $labels.http_route }}"),
    ("Operation", "operation:operation_calls:rate5m",
     "operation:operation_error_ratio:rate5m",
     "operation:operation_duration_seconds:p99_5m",
     "operation {{ $labels.operation }}"),
    ("RpcMethod", "method:rpc_server_requests:rate5m",
     "method:rpc_server_request_error_ratio:rate5m",
     "method:rpc_server_duration_seconds:p99_5m",
     "{{ $labels.rpc_service }}/{{ $labels.rpc_method }}"),
    ("Dependency", "dependency:http_client_requests:rate5m",
     "dependency:http_client_request_error_ratio:rate5m",
     "dependency:http_client_request_duration_seconds:p99_5m",
     "calls to {{ $labels.server_address }}:{{ $labels.server_port }}"),
]

# (kind, absolute floor of the band, unit words, humanize)
KINDS = {
    "latency": ("0.005", "humanizeDuration"),
    "errors": ("0.01", "humanizePercentage"),
    "traffic": ("0.5", "humanize"),
}


def base(metric):
    """`route:x:rate5m` -> `anomaly:route:x:rate5m` prefix for its recordings."""
    return "anomaly:" + metric.replace(":", "_")


def baseline(metric, floor):
    b = base(metric)
    return [
        # The last day, leaving out the last 30 minutes: a step does not
        # pollute its own baseline for half an hour.
        (f"{b}:stddev1d", f"stddev_over_time({metric}[1d] offset 30m)"),
        # The same hour yesterday: the expected value, seasonal. It exists
        # only once the series has a day of history (the cold-start gate).
        (f"{b}:expected", f"avg_over_time({metric}[1h] offset 23h30m)"),
        # Half the band: 3 standard deviations, at least half the expected
        # value and at least the floor.
        (f"{b}:band", f"clamp_min((3 * {b}:stddev1d > 0.5 * {b}:expected) or (0.5 * {b}:expected), {floor})"),
    ]


def rule_text(lines):
    out = []
    for kind, name, expr, extra in lines:
        out.append(f"      - {kind}: {name}")
        if "\n" in expr:
            out.append("        expr: |")
            out.extend("          " + l for l in expr.split("\n"))
        else:
            out.append(f"        expr: {expr}")
        out.extend(extra)
    return out


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = [
        "# Anomaly warnings: each route's, operation's, gRPC method's and outbound",
        "# dependency's rate, error ratio and p99 against its own baseline (the",
        "# same hour yesterday, give or take 3 standard deviations of the last",
        "# day, with floors). Warnings, not pages: for the pages, objectives",
        "# (docs/objectives.md). Written by scripts/anomaly_rules.py; unit tests in",
        "# tests/anomaly.rules.test.yml. Needs the recordings of tailwatch.rules.yml.",
        "#",
        "# * Cold start: silent until a series has a day of history.",
        "# * Low traffic: latency and errors only at 1 request/s or more; a",
        "#   traffic drop only for what usually gets 1 request/s or more.",
        "# * A step does not hide in its own baseline for 30 minutes (the",
        "#   baseline leaves them out); alerts hold 10 minutes (`for`) and",
        "#   keep firing 10 minutes after (`keep_firing_for`).",
        "groups:",
    ]
    for prefix, rate, errors, p99, who in FAMILIES:
        group = f"  - name: tailwatch.anomaly.{prefix.lower()}\n    rules:"
        recs = []
        for metric, kind in [(p99, "latency"), (errors, "errors"), (rate, "traffic")]:
            for name, expr in baseline(metric, KINDS[kind][0]):
                recs.append(("record", name, expr, []))
        alerts = []
        rb, eb, tb = base(p99), base(errors), base(rate)
        specs = [
            (f"{prefix}LatencyAnomaly", "latencyanomaly",
             f"{p99} > {rb}:expected + {rb}:band\nand on ({', '.join(labels_of(prefix))}) {rate} >= 1",
             f"{who} p99 is {{{{ $value | humanizeDuration }}}}, above its usual",
             "The p99 over 5 minutes is above the same hour yesterday by more than 3 standard deviations of the last day (and at least half of it, and 5 ms), for 10 minutes."),
            (f"{prefix}ErrorRatioAnomaly", "errorratioanomaly",
             f"{errors} > {eb}:expected + {eb}:band\nand on ({', '.join(labels_of(prefix))}) {rate} >= 1",
             f"{who} fails {{{{ $value | humanizePercentage }}}}, more than usual",
             "The error ratio over 5 minutes is above the same hour yesterday by more than 3 standard deviations of the last day (and at least 1 point), for 10 minutes."),
            (f"{prefix}TrafficAnomaly", "trafficanomaly",
             f"(\n  {rate} < {tb}:expected - {tb}:band\n  or {rate} > {tb}:expected + {tb}:band\n)\nand on ({', '.join(labels_of(prefix))}) {tb}:expected >= 1",
             f"{who} gets {{{{ $value | humanize }}}} requests/s, unlike usual",
             "The request rate over 5 minutes is outside the same hour yesterday's by more than 3 standard deviations of the last day (and half of it), for 10 minutes: a drop (to 0, say) or a surge."),
        ]
        for alert, anchor, expr, summary, description in specs:
            alerts.append(("alert", alert, expr, [
                "        for: 10m",
                "        keep_firing_for: 10m",
                "        labels:",
                "          severity: warning",
                "        annotations:",
                f"          summary: {q(summary)}",
                f"          description: {q(description)}",
                f"          runbook_url: {q(RUNBOOKS + '#' + anchor)}",
                f"          dashboard_url: {q(DASHBOARD)}",
            ]))
        out.append(group)
        out.extend(rule_text(recs + alerts))
    text = "\n".join(out) + "\n"
    with open(os.path.join(root, "dashboards", "anomaly.rules.yml"), "w") as f:
        f.write(text)


def labels_of(prefix):
    return {
        "HttpRoute": ["job", "http_request_method", "http_route"],
        "Operation": ["job", "operation"],
        "RpcMethod": ["job", "rpc_service", "rpc_method"],
        "Dependency": ["job", "server_address", "server_port"],
    }[prefix]


if __name__ == "__main__":
    main()
