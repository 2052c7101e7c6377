//! The `# HELP` text of the metrics tailwatch writes.

pub(super) fn help_of(name: &str) -> &'static str {
    match name {
        "http_server_request_duration_seconds" => "Duration of HTTP server requests.",
        "operation_duration_seconds" => "Duration of measured operations.",
        "http_server_active_requests" => "HTTP server requests in flight.",
        "operation_active" => "Measured operations in flight.",
        "resource_in_use" => "Units of the resource in use.",
        "resource_capacity" => "Units of the resource in total.",
        "resource_wait_seconds" => "Time spent waiting to acquire a unit of the resource.",
        "resource_idle" => "Units of the resource open but idle (a pool's idle connections).",
        "resource_waiting" => "Callers waiting to acquire a unit of the resource now.",
        "queue_depth" => "Items waiting in the queue.",
        "cache_requests_total" => "Cache lookups by result.",
        "process_cpu_seconds_total" => "User and system CPU time of the process, in seconds.",
        "process_cpu_utilization_ratio" => {
            "CPU time of the process over the sliding window, as a fraction of the CPUs it may use (the cgroup quota when there is one)."
        }
        "process_cpu_limit_cores" => {
            "CPUs the process may use: the cgroup CPU quota, else the CPUs available."
        }
        "process_resident_memory_bytes" => "Resident memory of the process, in bytes.",
        "process_memory_limit_bytes" => {
            "The cgroup memory limit of the process, in bytes (absent when unlimited)."
        }
        "process_open_fds" => "Open file descriptors of the process.",
        "process_max_fds" => "Maximum open file descriptors of the process (soft limit).",
        "process_threads" => "Threads of the process.",
        "tailwatch_series" => "Live series per metric, the overflow series included.",
        "tailwatch_series_overflow_total" => "Label sets folded into an overflow series or value.",
        "tailwatch_values_clamped_total" => {
            "Values recorded at the edge of the range instead of their own value."
        }
        "tailwatch_values_rejected_total" => "Values refused (NaN).",
        "tailwatch_label_values_truncated_total" => {
            "Label sets with a value cut to the length limit (it ends in …)."
        }
        "tailwatch_scrape_duration_seconds" => "Time the previous scrape took to render.",
        "tokio_workers" => "Worker threads of the tokio runtime.",
        "tokio_alive_tasks" => "Tasks alive in the tokio runtime.",
        "tokio_global_queue_depth" => "Tasks waiting in the tokio runtime's global queue.",
        "tokio_worker_busy_seconds_total" => {
            "Time the tokio workers spent busy, summed over workers."
        }
        "tokio_worker_parks_total" => "Times the tokio workers parked, summed over workers.",
        "tokio_busy_ratio" => {
            "Busy time of the tokio workers over the sliding window, as a fraction of their time."
        }
        "tailwatch_facade_renamed_total" => {
            "Series the metrics facade registered under another name than given (invalid or reserved names and label names)."
        }
        "tailwatch_agent_connections" => "Connections open to the tailwatch agent.",
        "tailwatch_agent_connections_closed_total" => {
            "Connections the tailwatch agent closed on a limit (reason: limit, header_timeout, idle_timeout, header_too_large, shutdown, tls_handshake)."
        }
        "tailwatch_sampler_stalls_total" => {
            "Sampler runs that took longer than the sample interval (their values went stale)."
        }
        "tailwatch_sampler_stalled" => {
            "1 while a sampler's run is past the sample interval: its values are stale."
        }
        _ => "Recorded by tailwatch.",
    }
}
