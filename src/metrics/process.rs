//! The standard `process_*` metrics every Prometheus client exports (CPU, memory, file
//! descriptors, start time), read from Linux `/proc/self` at scrape time, so the usual
//! dashboards show ringwrite's RSS and CPU next to Prometheus's own. Where `/proc` cannot be
//! read the value is NaN rather than an error.

use std::fs;

use super::registry::Registry;

/// Registers the `process_*` metrics (idempotent).
pub fn register_process_metrics(reg: &Registry) {
    let ticks = clock_ticks_per_second();
    let page = page_size();
    reg.counter_fn(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        &[],
        move || self_stat().map_or(f64::NAN, |s| (s.utime + s.stime) as f64 / ticks),
    );
    reg.gauge_fn(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        &[],
        move || self_stat().map_or(f64::NAN, |s| s.rss_pages as f64 * page),
    );
    reg.gauge_fn(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        &[],
        || self_stat().map_or(f64::NAN, |s| s.vsize as f64),
    );
    reg.gauge_fn(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        &[],
        move || {
            let boot = fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|t| parse_btime(&t));
            match (self_stat(), boot) {
                (Some(s), Some(b)) => b as f64 + s.starttime as f64 / ticks,
                _ => f64::NAN,
            }
        },
    );
    reg.gauge_fn(
        "process_open_fds",
        "Number of open file descriptors.",
        &[],
        || fs::read_dir("/proc/self/fd").map_or(f64::NAN, |d| d.count() as f64),
    );
    reg.gauge_fn(
        "process_max_fds",
        "Maximum number of open file descriptors.",
        &[],
        || {
            fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|t| parse_max_open_files(&t))
                .unwrap_or(f64::NAN)
        },
    );
}

/// The fields of `/proc/self/stat` we export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
    rss_pages: u64,
}

fn self_stat() -> Option<Stat> {
    parse_stat(&fs::read_to_string("/proc/self/stat").ok()?)
}

/// Parses `/proc/<pid>/stat` (proc(5)). The command name may hold spaces and parentheses, so
/// fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let after = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is index 0 here; field n is index n - 3.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let num = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: num(14)?,
        stime: num(15)?,
        starttime: num(22)?,
        vsize: num(23)?,
        rss_pages: num(24)?,
    })
}

/// The `btime` line of `/proc/stat`: boot time, seconds since the epoch.
fn parse_btime(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of "Max open files" in `/proc/self/limits` (`unlimited` is +Inf).
fn parse_max_open_files(text: &str) -> Option<f64> {
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    match rest.split_whitespace().next()? {
        "unlimited" => Some(f64::INFINITY),
        v => v.parse::<u64>().ok().map(|v| v as f64),
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant; it has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // USER_HZ is 100 on every Linux architecture we run on, if sysconf fails.
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn page_size() -> f64 {
    // SAFETY: as above, a read-only system constant.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as f64
    } else {
        4096.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_paren() {
        // A real line with a hostile command name "a) b (c".
        let line = "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 500 0 0 0 \
                    250 75 0 0 20 0 8 0 987654 123456789 4321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                utime: 250,
                stime: 75,
                starttime: 987654,
                vsize: 123456789,
                rss_pages: 4321,
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None, "too few fields");
    }

    #[test]
    fn btime_and_fd_limit() {
        assert_eq!(
            parse_btime("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_btime("cpu 1\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_open_files(limits), Some(1024.0));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_open_files(unlimited), Some(f64::INFINITY));
    }

    #[test]
    fn live_values_are_plausible() {
        let r = Registry::new();
        register_process_metrics(&r);
        let text = r.render();
        let value = |name: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing in {text}"));
            line[name.len() + 1..].parse().expect("number")
        };
        assert!(value("process_resident_memory_bytes") > 1e5);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_cpu_seconds_total") >= 0.0);
        let start = value("process_start_time_seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs_f64();
        assert!(
            start > 1.6e9 && start <= now + 1.0,
            "start {start}, now {now}"
        );
    }
}
